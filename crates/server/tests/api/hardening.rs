//! Trust under attack: what a hostile client can do to the service's
//! metrics, parsers, limits and logs, over real HTTP against the real service.

use crate::helpers::*;
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn invented_methods_add_no_metric_series() {
    let app = spawn_app().await;
    let invented = |n: usize| Method::from_bytes(format!("FOO{n}").as_bytes()).unwrap();
    let send = |method: Method| app.http.request(method, app.url("/metrics")).send();
    // Whatever one invented method adds (its `other` series), and the GET of
    // the count itself, exist before counting.
    assert_eq!(send(invented(0)).await.unwrap().status(), 405);
    metric_series(&app, "/metrics").await;
    let before = metric_series(&app, "/metrics").await;

    futures::stream::iter(1..=5000)
        .map(|n| send(invented(n)))
        .buffer_unordered(16)
        .for_each(|r| async move { assert_eq!(r.unwrap().status(), 405) })
        .await;

    assert_eq!(metric_series(&app, "/metrics").await, before);
    app.stop().await;
}

#[tokio::test]
async fn an_id_number_born_in_the_future_is_invalid() {
    let app = spawn_app().await;
    let (token, _) = app.sign_in("+8613800000001").await;
    // A real date with a correct check character, only not yet come.
    let first17 = "11010129990307663";
    let check = shiming_domain::id_number::check_char(first17.as_bytes().try_into().unwrap());
    let resp = app
        .post_as(
            &token,
            "/api/v1/account/real-name/phone",
            json!({ "name": "张三", "id_number": format!("{first17}{check}"), "consent": true }),
        )
        .await;
    assert_eq!(
        error_code(resp).await,
        (StatusCode::BAD_REQUEST, "invalid_id_number".to_owned())
    );
    app.stop().await;
}

#[tokio::test]
async fn body_errors_speak_the_contract_not_the_parser() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({ "phone": "+8613800000001", "purpose": "steal" }),
            "field `purpose` has a value this endpoint does not accept",
        ),
        (json!({ "purpose": "login" }), "missing field `phone`"),
        (
            json!({ "phone": 8613800000001u64, "purpose": "login" }),
            "field `phone` has the wrong type",
        ),
        (
            json!("+8613800000001"),
            "the request body must be a JSON object with the fields this endpoint documents",
        ),
    ];
    for (body, said) in cases {
        let resp = app.post("/api/v1/sms/send", body.clone()).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
        let answer: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(answer["error"]["code"], "invalid_request", "{body}");
        assert_eq!(answer["error"]["message"], said, "{body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn only_plain_request_ids_are_kept() {
    let app = spawn_app().await;
    let answer_id = |sent: Vec<String>| {
        let mut req = app.http.get(app.url("/healthz"));
        for id in sent {
            req = req.header("X-Request-Id", id);
        }
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 200);
            let ids: Vec<_> = resp.headers().get_all("x-request-id").iter().collect();
            assert_eq!(ids.len(), 1, "one id in the answer");
            ids[0].to_str().unwrap().to_owned()
        }
    };
    let is_uuid = |id: &str| {
        id.len() == 36
            && id.char_indices().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => c == '-',
                _ => c.is_ascii_hexdigit(),
            })
    };
    let plain = "req-42_a.B";
    assert_eq!(answer_id(vec![plain.into()]).await, plain);
    let longest = "a".repeat(64);
    assert_eq!(answer_id(vec![longest.clone()]).await, longest);
    assert!(is_uuid(&answer_id(vec![]).await));
    for refused in [
        vec!["a".repeat(65)],
        vec!["id with spaces".into()],
        vec!["x\" level=error msg=\"forged".into()],
        vec!["<script>".into()],
        vec![plain.into(), "other".into()],
    ] {
        let given = answer_id(refused.clone()).await;
        assert!(is_uuid(&given), "{refused:?} answered {given}");
    }
    app.stop().await;
}

#[tokio::test]
async fn per_address_limits_count_an_ipv6_client_by_its_64() {
    let app = spawn_app_with(|c| {
        c.http.client_ip_header = Some("X-Forwarded-For".into());
        c.sms.per_ip_per_hour = 2;
        c.sms.resend_after_secs = 0;
    })
    .await;
    let send = |phone: &'static str, forwarded: &[&'static str]| {
        let mut req = app.http.post(app.url("/api/v1/sms/send"));
        for line in forwarded {
            req = req.header("X-Forwarded-For", *line);
        }
        let req = req.json(&json!({ "phone": phone, "purpose": "login" }));
        async move { req.send().await.unwrap().status().as_u16() }
    };
    // Three addresses of one /64 share its two codes; the next /64 has its own.
    assert_eq!(send("+8613700000001", &["2001:db8:1:2::1"]).await, 202);
    assert_eq!(send("+8613700000002", &["2001:db8:1:2:ffff::9"]).await, 202);
    assert_eq!(send("+8613700000003", &["2001:db8:1:2::abcd"]).await, 429);
    assert_eq!(send("+8613700000004", &["2001:db8:1:3::1"]).await, 202);
    // A header on two lines: the last entry of the last line counts.
    assert_eq!(
        send("+8613700000005", &["198.51.100.1", "10.0.0.1, 2001:db8:1:2::5"]).await,
        429
    );
    // An IPv4-mapped IPv6 address is its IPv4 address.
    assert_eq!(send("+8613700000006", &["192.0.2.7"]).await, 202);
    assert_eq!(send("+8613700000007", &["::ffff:192.0.2.7"]).await, 202);
    assert_eq!(send("+8613700000008", &["192.0.2.7"]).await, 429);
    app.stop().await;
}
