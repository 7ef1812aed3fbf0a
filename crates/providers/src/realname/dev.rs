//! The development carrier: an HTTP server speaking carrier protocol v1,
//! holding test persons in memory (never in the data folder), with an admin
//! API to add persons and to make it fail for tests.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use shiming_domain::{IdNumber, PersonName, Phone};

use super::protocol::{CheckRequest, CheckResponse, CheckResult, CHECK_PATH};

/// A test person: the phone number registered to a name and ID number.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestPerson {
    pub phone: String,
    pub name: String,
    pub id_number: String,
}

/// The documented test persons every development carrier starts with
/// (README.md lists them; the ID numbers carry valid check characters).
pub fn test_persons() -> Vec<TestPerson> {
    [
        ("+8613800000001", "张三", "110101199003076632"),
        ("+8613800000002", "李四", "310115198506124828"),
        ("+8613800000003", "王芳", "440305199211303513"),
        ("+8613800000004", "欧阳·娜娜", "510107198808081234"),
    ]
    .into_iter()
    .map(|(phone, name, id_number)| TestPerson {
        phone: phone.into(),
        name: name.into(),
        id_number: id_number.into(),
    })
    .collect()
}

/// How the development carrier misbehaves, for tests of failure handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    #[default]
    None,
    /// Answer 500 to every check.
    Error,
    /// Never answer a check (until the fault is cleared).
    Hang,
}

pub struct DevCarrier {
    /// Keyed by E.164 phone; the value is the registered (name, ID number).
    persons: RwLock<HashMap<String, (PersonName, IdNumber)>>,
    fault: RwLock<Fault>,
    api_key: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadPerson(String);

impl DevCarrier {
    /// A carrier with the documented test persons; checks must carry `api_key`
    /// as a bearer token when one is given.
    pub fn new(api_key: Option<String>) -> Arc<Self> {
        let carrier = DevCarrier {
            persons: RwLock::default(),
            fault: RwLock::default(),
            api_key,
        };
        for p in test_persons() {
            carrier.add(&p).expect("the documented test persons are valid");
        }
        Arc::new(carrier)
    }

    pub fn add(&self, p: &TestPerson) -> Result<(), BadPerson> {
        let phone = Phone::parse(&p.phone).map_err(|e| BadPerson(format!("phone: {e}")))?;
        let name = PersonName::parse(&p.name).map_err(|e| BadPerson(format!("name: {e}")))?;
        let id = IdNumber::parse(&p.id_number).map_err(|e| BadPerson(format!("id_number: {e}")))?;
        self.persons
            .write()
            .expect("not poisoned")
            .insert(phone.e164().to_owned(), (name, id));
        Ok(())
    }

    /// The protocol endpoint and the admin API, for the carrier's own listener.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route(CHECK_PATH, post(check))
            .with_state(self.clone())
            .merge(self.admin_router())
    }

    /// Only the admin API (`/dev/carrier/persons`, `/dev/carrier/fault`), for
    /// mounting on shiming's own listener in dev.
    pub fn admin_router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/dev/carrier/persons", post(add_person).get(list_persons))
            .route("/dev/carrier/fault", post(set_fault))
            .with_state(self.clone())
    }

    fn verdict(&self, req: &CheckRequest) -> CheckResult {
        let (Ok(phone), Ok(name), Ok(id)) = (
            Phone::parse(&req.phone),
            PersonName::parse(&req.name),
            IdNumber::parse(&req.id_number),
        ) else {
            return CheckResult::Mismatch;
        };
        match self.persons.read().expect("not poisoned").get(phone.e164()) {
            None => CheckResult::NoRecord,
            Some((n, i)) if *n == name && *i == id => CheckResult::Match,
            Some(_) => CheckResult::Mismatch,
        }
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": { "code": "bad_request", "message": message } })),
    )
        .into_response()
}

async fn check(
    State(carrier): State<Arc<DevCarrier>>,
    headers: HeaderMap,
    body: Result<Json<CheckRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Some(key) = &carrier.api_key {
        let presented = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if presented != Some(key.as_str()) {
            return error(StatusCode::UNAUTHORIZED, "a valid bearer token is required".into());
        }
    }
    let fault = *carrier.fault.read().expect("not poisoned");
    match fault {
        Fault::None => {}
        Fault::Error => return error(StatusCode::INTERNAL_SERVER_ERROR, "injected fault".into()),
        Fault::Hang => {
            // Hang until a client gives up; a test clears the fault afterwards.
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let result = carrier.verdict(&req);
    Json(CheckResponse {
        request_id: req.request_id,
        result,
    })
    .into_response()
}

async fn add_person(
    State(carrier): State<Arc<DevCarrier>>,
    body: Result<Json<TestPerson>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(p) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    match carrier.add(&p) {
        Ok(()) => (StatusCode::CREATED, Json(p)).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e.0),
    }
}

async fn list_persons(State(carrier): State<Arc<DevCarrier>>) -> Json<Vec<TestPerson>> {
    let persons = carrier.persons.read().expect("not poisoned");
    let mut list: Vec<TestPerson> = persons
        .iter()
        .map(|(phone, (name, id))| TestPerson {
            phone: phone.clone(),
            name: name.as_str().into(),
            id_number: id.as_str().into(),
        })
        .collect();
    list.sort_by(|a, b| a.phone.cmp(&b.phone));
    Json(list)
}

#[derive(Deserialize)]
struct FaultBody {
    mode: Fault,
}

async fn set_fault(State(carrier): State<Arc<DevCarrier>>, Json(body): Json<FaultBody>) -> StatusCode {
    *carrier.fault.write().expect("not poisoned") = body.mode;
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use shiming_domain::Person;

    use super::super::{CarrierClient, CarrierConfig, RealNameVerifier, Verdict, VerifierError};
    use super::*;

    async fn serve(carrier: &Arc<DevCarrier>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = carrier.router();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        base
    }

    fn person(name: &str, id: &str) -> Person {
        Person {
            name: PersonName::parse(name).unwrap(),
            id_number: IdNumber::parse(id).unwrap(),
        }
    }

    #[tokio::test]
    async fn the_client_and_the_dev_carrier_agree_over_http() {
        let carrier = DevCarrier::new(Some("k3y".into()));
        let base = serve(&carrier).await;
        let client = CarrierClient::new(&CarrierConfig {
            base_url: base.clone(),
            api_key: Some("k3y".into()),
            timeout_ms: 2000,
        });
        let zhang = person("张三", "110101199003076632");
        let phone1 = Phone::parse("+8613800000001").unwrap();
        assert_eq!(client.check_phone(&phone1, &zhang).await.unwrap(), Verdict::Match);
        assert_eq!(
            client
                .check_phone(&phone1, &person("李四", "310115198506124828"))
                .await
                .unwrap(),
            Verdict::Mismatch
        );
        let unknown = Phone::parse("+8613999999999").unwrap();
        assert_eq!(client.check_phone(&unknown, &zhang).await.unwrap(), Verdict::Mismatch);

        // Added persons are checked like the built-in ones.
        let added = reqwest::Client::new()
            .post(format!("{base}/dev/carrier/persons"))
            .json(&serde_json::json!({"phone": "+8613999999999", "name": "张三", "id_number": "110101199003076632"}))
            .send()
            .await
            .unwrap();
        assert_eq!(added.status(), 201);
        assert_eq!(client.check_phone(&unknown, &zhang).await.unwrap(), Verdict::Match);
        let bad = reqwest::Client::new()
            .post(format!("{base}/dev/carrier/persons"))
            .json(&serde_json::json!({"phone": "+8613999999999", "name": "张三", "id_number": "110101199003076631"}))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);

        let wrong_key = CarrierClient::new(&CarrierConfig {
            base_url: base,
            api_key: Some("nope".into()),
            timeout_ms: 2000,
        });
        assert!(matches!(
            wrong_key.check_phone(&phone1, &zhang).await,
            Err(VerifierError::Unauthorized)
        ));
    }

    #[tokio::test]
    async fn faults_become_typed_errors() {
        let carrier = DevCarrier::new(None);
        let base = serve(&carrier).await;
        let client = CarrierClient::new(&CarrierConfig {
            base_url: base,
            api_key: None,
            timeout_ms: 300,
        });
        let zhang = person("张三", "110101199003076632");
        let phone1 = Phone::parse("+8613800000001").unwrap();
        *carrier.fault.write().unwrap() = Fault::Error;
        assert!(matches!(
            client.check_phone(&phone1, &zhang).await,
            Err(VerifierError::Protocol(_))
        ));
        *carrier.fault.write().unwrap() = Fault::Hang;
        assert!(matches!(
            client.check_phone(&phone1, &zhang).await,
            Err(VerifierError::Timeout)
        ));
        let gone = CarrierClient::new(&CarrierConfig {
            base_url: "http://127.0.0.1:9".into(),
            api_key: None,
            timeout_ms: 300,
        });
        assert!(matches!(
            gone.check_phone(&phone1, &zhang).await,
            Err(VerifierError::Unreachable(_))
        ));
    }

    #[test]
    fn test_persons_are_valid() {
        for p in test_persons() {
            DevCarrier::new(None).add(&p).unwrap();
        }
    }
}
