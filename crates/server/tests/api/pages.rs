//! The pages over HTTP (the browser tests, in crates/shiming/tests/browser.rs,
//! drive them in Chromium): their headers, CSRF on every form, the
//! language, and where they send people.

use reqwest::header::{ACCEPT_LANGUAGE, CACHE_CONTROL, COOKIE, LOCATION, SET_COOKIE};
use reqwest::Response;

use crate::helpers::{spawn_app, spawn_app_with, TestApp};
use crate::policies::{asked_for, managed_employee, EMPLOYEE};

/// The `name=value` of each cookie an answer sets.
fn cookies(resp: &Response) -> String {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The CSRF token of the first form of a page.
async fn csrf_of(resp: Response) -> String {
    token_in(&resp.text().await.unwrap())
}

async fn get(app: &TestApp, path: &str, cookie: &str) -> Response {
    app.http.get(app.url(path)).header(COOKIE, cookie).send().await.unwrap()
}

async fn post_form(app: &TestApp, path: &str, cookie: &str, form: &[(&str, &str)]) -> Response {
    app.http
        .post(app.url(path))
        .header(COOKIE, cookie)
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn pages_forbid_inline_script_framing_referrers_and_caching() {
    let app = spawn_app().await;
    for path in [
        "/login",
        "/",
        "/account",
        "/account/phone/change",
        "/account/wechat/rebind",
        "/account/wechat/unbind",
    ] {
        let resp = get(&app, path, "").await;
        let h = resp.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h[CACHE_CONTROL], "no-store", "{path}");
    }
    let css = get(&app, "/static/app.css", "").await;
    assert_eq!(css.headers()["content-type"], "text/css");
    assert!(css.headers()[CACHE_CONTROL].to_str().unwrap().contains("max-age"));
    // Where they send people: a stranger to sign-in.
    for path in ["/", "/account"] {
        let resp = get(&app, path, "").await;
        assert_eq!(
            (resp.status().as_u16(), resp.headers()[LOCATION].to_str().unwrap()),
            (303, "/login")
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_form_posted_without_its_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let page = get(&app, "/login", "").await;
    let form_cookie = cookies(&page);
    let token = csrf_of(page).await;

    // Sending a code: without the token, or with another browser's, nothing is sent.
    for (cookie, csrf) in [
        (form_cookie.as_str(), ""),
        ("", token.as_str()),
        ("shiming_form=0123456789abcdef0123456789abcdef", token.as_str()),
    ] {
        let resp = post_form(
            &app,
            "/login",
            cookie,
            &[("csrf", csrf), ("phone", "13800138000"), ("action", "send")],
        )
        .await;
        assert_eq!(resp.status(), 403, "cookie {cookie:?}");
    }
    assert!(app.outbox("+8613800138000").await.is_empty(), "no code was sent");

    // With it, the code goes out and the page says so.
    let resp = post_form(
        &app,
        "/login",
        &form_cookie,
        &[("csrf", &token), ("phone", "13800138000"), ("action", "send")],
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("data-resend-after=\"60\""));
    let code = app.latest_code("+8613800138000").await;
    let resp = post_form(
        &app,
        "/login",
        &form_cookie,
        &[
            ("csrf", &token),
            ("phone", "13800138000"),
            ("code", &code),
            ("action", "login"),
        ],
    )
    .await;
    assert_eq!(
        (resp.status().as_u16(), resp.headers()[LOCATION].to_str().unwrap()),
        (303, "/account")
    );
    let session = cookies(&resp);
    assert!(session.starts_with("shiming_session="), "{session}");

    // Sign-out without the session's token: the session lives on.
    let account = get(&app, "/account", &session).await;
    assert_eq!(account.status(), 200);
    let session_token = csrf_of(account).await;
    for csrf in ["", token.as_str()] {
        let resp = post_form(&app, "/logout", &session, &[("csrf", csrf)]).await;
        assert_eq!(resp.status(), 403, "{csrf:?}");
        assert_eq!(get(&app, "/account", &session).await.status(), 200, "still signed in");
    }
    let resp = post_form(&app, "/logout", &session, &[("csrf", &session_token)]).await;
    assert_eq!(
        (resp.status().as_u16(), resp.headers()[LOCATION].to_str().unwrap()),
        (303, "/login")
    );
    assert_eq!(get(&app, "/account", &session).await.status(), 303, "signed out");
    app.stop().await;
}

#[tokio::test]
async fn the_language_follows_the_switch_then_the_browser_then_defaults_to_chinese() {
    let app = spawn_app().await;
    let title = |html: &str| html.split_once("<h1>").unwrap().1.split('<').next().unwrap().to_owned();
    let zh = get(&app, "/login", "").await.text().await.unwrap();
    assert!(zh.contains("<html lang=\"zh-CN\">") && title(&zh) == "登录");
    let en = app
        .http
        .get(app.url("/login"))
        .header(ACCEPT_LANGUAGE, "en-GB,en;q=0.9")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(en.contains("<html lang=\"en\">") && title(&en) == "Sign in");

    // The switch: a cookie, and back to the page, never elsewhere.
    let resp = get(&app, "/lang/en?next=/account", "").await;
    assert_eq!(
        (resp.status().as_u16(), resp.headers()[LOCATION].to_str().unwrap()),
        (303, "/account")
    );
    let lang = cookies(&resp);
    assert_eq!(lang, "shiming_lang=en");
    let switched = app
        .http
        .get(app.url("/login"))
        .header(COOKIE, &lang)
        .header(ACCEPT_LANGUAGE, "zh-CN")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(title(&switched), "Sign in", "the switch wins over the browser");
    for next in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "/%0d%0aSet-Cookie:%20x=1",
        "/%E8%B4%A6%E5%8F%B7",
    ] {
        let resp = get(&app, &format!("/lang/zh-CN?next={next}"), "").await;
        assert_eq!(resp.headers()[LOCATION], "/", "{next}");
    }
    assert_eq!(get(&app, "/lang/fr", "").await.status(), 404);
    // An error message comes in the page's language.
    let page = app
        .http
        .get(app.url("/login"))
        .header(ACCEPT_LANGUAGE, "en")
        .send()
        .await
        .unwrap();
    let form_cookie = cookies(&page);
    let token = csrf_of(page).await;
    let resp = app
        .http
        .post(app.url("/login"))
        .header(COOKIE, &form_cookie)
        .header(ACCEPT_LANGUAGE, "en")
        .form(&[("csrf", token.as_str()), ("phone", "12345"), ("action", "send")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("Enter a valid mainland China mobile number."));
    app.stop().await;
}

#[tokio::test]
async fn every_account_form_needs_its_sessions_token() {
    let app = spawn_app_with(|c| c.sms.resend_after_secs = 0).await;
    for path in ["/account/real-name", "/account/sessions", "/account/audit"] {
        let resp = get(&app, path, "").await;
        assert_eq!(resp.headers()[LOCATION], "/login", "{path} without a session");
    }
    let (token, _) = app.sign_in("+8613800000001").await;
    let (other, _) = app.sign_in("+8613800000001").await;
    let session = format!("shiming_session={token}");
    let before = app.snapshot(&token).await;
    let person = [
        ("name", "张三"),
        ("id_number", "110101199003076632"),
        ("consent", "true"),
    ];
    let posts: [(&str, &[(&str, &str)]); 3] = [
        ("/account/real-name", &person),
        ("/account/sessions/sign-out-others", &[]),
        ("/logout", &[]),
    ];
    for (path, fields) in posts {
        for csrf in ["", "0".repeat(64).as_str()] {
            let mut form = vec![("csrf", csrf)];
            form.extend_from_slice(fields);
            let resp = post_form(&app, path, &session, &form).await;
            assert_eq!(resp.status(), 403, "{path} with {csrf:?}");
        }
    }
    crate::helpers::assert_unchanged(&before, &app.snapshot(&token).await);
    assert_eq!(app.security(&other).await["real_name"]["status"], "unverified");

    // With the token: verified, and the other device signed out.
    let csrf = csrf_of(get(&app, "/account/real-name", &session).await).await;
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(&person);
    let resp = post_form(&app, "/account/real-name", &session, &form).await;
    assert_eq!(resp.headers()[LOCATION], "/account");
    assert_eq!(app.security(&token).await["real_name"]["status"], "verified");
    let resp = post_form(&app, "/account/sessions/sign-out-others", &session, &[("csrf", &csrf)]).await;
    assert_eq!(resp.headers()[LOCATION], "/account/sessions?ended=1");
    let whoami = app
        .http
        .get(app.url("/api/v1/whoami"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(whoami.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn every_wizard_step_needs_its_sessions_token_and_the_apis_checks() {
    let app = spawn_app_with(|c| c.sms.resend_after_secs = 0).await;
    for path in [
        "/account/phone/change",
        "/account/wechat/rebind",
        "/account/wechat/unbind",
        "/account/wechat/rebind/authorize",
        "/account/step-up/wechat/phone",
    ] {
        let resp = get(&app, path, "").await;
        assert_eq!(resp.headers()[LOCATION], "/login", "{path} without a session");
    }
    let person = ("张三", "110101199003076632");
    let token = app.verified_account("+8613800000001", person).await;
    let session = format!("shiming_session={token}");

    // Without a step-up, every wizard starts at it, and a step past it is
    // refused by the API's own check.
    for path in ["/account/phone/change", "/account/wechat/rebind"] {
        let html = get(&app, path, &session).await.text().await.unwrap();
        assert!(html.contains("id=\"step-up-phone\""), "{path}: {html}");
    }
    let csrf = csrf_of(get(&app, "/account/phone/change", &session).await).await;
    let resp = post_form(
        &app,
        "/account/phone/change",
        &session,
        &[
            ("csrf", &csrf),
            ("action", "start"),
            ("new_phone", "13800000002"),
            ("consent", "true"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 403);
    assert!(
        resp.text().await.unwrap().contains("step-up-phone"),
        "back at the step-up"
    );

    // A proven change waiting for its confirm; no form post without the
    // session's token touches it, nor sends a code.
    app.step_up(&token, "+8613800000001").await;
    app.add_carrier_person("+8613800000002", person.0, person.1).await;
    let preview = app.prove_phone_change(&token, "+8613800000002", person).await;
    assert_eq!(preview.status(), 200);
    let before = app.snapshot(&token).await;
    let texts = app.outbox("+8613800000001").await.len();
    let posts: [(&str, &[(&str, &str)]); 4] = [
        ("/account/phone/change", &[("action", "confirm"), ("accept", "true")]),
        ("/account/phone/change", &[("action", "send_step_up")]),
        ("/account/wechat/rebind", &[("action", "send_step_up")]),
        ("/account/wechat/unbind", &[("action", "confirm"), ("accept", "true")]),
    ];
    for (path, fields) in posts {
        for bad in ["", "0".repeat(64).as_str()] {
            let mut form = vec![("csrf", bad)];
            form.extend_from_slice(fields);
            let resp = post_form(&app, path, &session, &form).await;
            assert_eq!(resp.status(), 403, "{path} {fields:?} with {bad:?}");
        }
    }
    crate::helpers::assert_unchanged(&before, &app.snapshot(&token).await);
    assert_eq!(app.outbox("+8613800000001").await.len(), texts, "no code was sent");

    // The page shows the API's preview, and its token confirms it.
    let html = get(&app, "/account/phone/change", &session).await.text().await.unwrap();
    assert!(
        html.contains("id=\"pv-status\" data-api=\"verified\"") && html.contains("data-api=\"phone 138****0001\""),
        "{html}"
    );
    let resp = post_form(
        &app,
        "/account/phone/change",
        &session,
        &[("csrf", &csrf), ("action", "nonsense")],
    )
    .await;
    assert_eq!(resp.status(), 400, "an unknown step changes nothing");
    let resp = post_form(
        &app,
        "/account/phone/change",
        &session,
        &[("csrf", &csrf), ("action", "confirm"), ("accept", "true")],
    )
    .await;
    assert_eq!(resp.headers()[LOCATION], "/account/phone/change?done=1&ended=0");
    let security = app.security(&token).await;
    assert_eq!(security["phone"]["number_masked"], "138****0002", "{security}");
    app.stop().await;
}

#[tokio::test]
async fn the_sign_in_page_says_a_code_registers_only_where_registration_is_open() {
    for open in [true, false] {
        let app = spawn_app_with(|c| c.registration.open = open).await;
        let html = get(&app, "/login", "").await.text().await.unwrap();
        assert_eq!(html.contains("验证码登录即注册"), open, "registration open: {open}");
        app.stop().await;
    }
}

#[tokio::test]
async fn the_invitation_page_shows_an_invitation_to_its_phone_only_and_answers_with_its_token() {
    let app = spawn_app().await;
    let (owner, _) = app.sign_in("+8613800000011").await;
    let r = app
        .post_as(&owner, "/api/v1/enterprises", serde_json::json!({ "name": "示例科技" }))
        .await;
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post_as(
            &owner,
            &format!("/api/v1/enterprises/{id}/invitations"),
            serde_json::json!({ "phone": "+8613800000012" }),
        )
        .await;
    let sent: serde_json::Value = r.json().await.unwrap();
    let path = format!("/invitations/{}", sent["code"].as_str().unwrap());

    // Signed out: a sign-in that comes back here, and nothing of the invitation.
    let html = get(&app, &path, "").await.text().await.unwrap();
    assert!(html.contains(&format!("href=\"/login?next={path}\"")), "{html}");
    assert!(!html.contains("示例科技"));
    // Someone else, signed in: 404, nothing of the invitation.
    let (stranger, _) = app.sign_in("+8613800000013").await;
    let resp = get(&app, &path, &format!("shiming_session={stranger}")).await;
    assert_eq!(resp.status(), 404);
    assert!(!resp.text().await.unwrap().contains("示例科技"));

    // The invitee signs in through the page's link and comes back here.
    let (html, resp) = sign_in_by_form(&app, &path, "+8613800000012").await;
    assert!(html.contains(&format!("name=\"next\" value=\"{path}\"")));
    assert_eq!(resp.headers()[LOCATION], path.as_str());
    let session = cookies(&resp);
    let page = get(&app, &path, &session).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("示例科技") && html.contains("id=\"accept\""), "{html}");

    // The answer needs the session's token; with it, the invitee joins.
    let csrf = token_in(&html);
    let resp = post_form(&app, &path, &session, &[("csrf", ""), ("action", "accept")]).await;
    assert_eq!(resp.status(), 403);
    let resp = post_form(&app, &path, &session, &[("csrf", &csrf), ("action", "accept")]).await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("您已加入该企业") && !html.contains("id=\"accept\""),
        "{html}"
    );
    let members = app.json_as(&owner, &format!("/api/v1/enterprises/{id}/members")).await;
    assert_eq!(members["members"].as_array().unwrap().len(), 2);
    // Answered: a second answer is refused, and says so.
    let resp = post_form(&app, &path, &session, &[("csrf", &csrf), ("action", "decline")]).await;
    assert_eq!(resp.status(), 409);
    assert!(resp.text().await.unwrap().contains("已被处理"));
}

#[tokio::test]
async fn the_enterprise_page_shows_admins_masked_real_names_and_acts_only_with_its_token() {
    let (app, owner, employee, id, account) = managed_employee().await;
    let path = format!("/enterprises/{id}");
    let as_owner = format!("shiming_session={owner}");
    let as_employee = format!("shiming_session={employee}");

    // Signed out: a sign-in that comes back here. A stranger: 404, exactly
    // as an enterprise that does not exist, and nothing of this one.
    let resp = get(&app, &path, "").await;
    assert_eq!(resp.headers()[LOCATION], format!("/login?next={path}").as_str());
    let (stranger, _) = app.sign_in("+8613800000041").await;
    let as_stranger = format!("shiming_session={stranger}");
    for page in [path.clone(), format!("{path}/audit"), "/enterprises/ent_missing".into()] {
        let resp = get(&app, &page, &as_stranger).await;
        assert_eq!(resp.status(), 404, "{page}");
        assert!(!resp.text().await.unwrap().contains("示例科技"), "{page}");
    }

    // The owner sees the member's real name masked, never their ID number.
    let page = get(&app, &path, &as_owner).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("示例科技") && html.contains(&format!("id=\"member-{account}\"")));
    assert!(html.contains("已实名 · *伟") && html.contains("企业托管"), "{html}");
    assert!(
        !html.contains(EMPLOYEE.1) && !html.contains("110101"),
        "an ID number shown"
    );
    // The member sees the members, and nothing only admins see.
    let html = get(&app, &path, &as_employee).await.text().await.unwrap();
    assert!(html.contains("张伟"));
    for admins_only in ["*伟", "企业托管", "name=\"action\"", "filter-flag", "/audit"] {
        assert!(!html.contains(admins_only), "{admins_only} shown to a member");
    }
    let resp = get(&app, &format!("{path}?flag=managed"), &as_employee).await;
    assert_eq!(resp.status(), 403);
    let resp = get(&app, &format!("{path}/audit"), &as_employee).await;
    assert_eq!(resp.status(), 403);
    // Filters narrow the owner's list.
    let listed = |query: &'static str| {
        let (app, path, as_owner) = (&app, &path, &as_owner);
        async move {
            let page = get(app, &format!("{path}?{query}"), as_owner).await;
            assert_eq!(page.status(), 200, "{query}");
            page.text().await.unwrap()
        }
    };
    let row = format!("id=\"member-{account}\"");
    assert!(listed("flag=managed").await.contains(&row));
    assert!(!listed("flag=frozen").await.contains(&row));

    // Freezing takes the page's token and a reason; then the member is out.
    let act = format!("{path}/members/{account}");
    let csrf = token_in(&get(&app, &path, &as_owner).await.text().await.unwrap());
    let forged = [("csrf", "x"), ("action", "freeze"), ("reason", "离职审计")];
    assert_eq!(post_form(&app, &act, &as_owner, &forged).await.status(), 403);
    let no_reason = [("csrf", csrf.as_str()), ("action", "freeze"), ("reason", " ")];
    assert_eq!(post_form(&app, &act, &as_owner, &no_reason).await.status(), 400);
    let members = format!("/api/v1/enterprises/{id}/members");
    assert_eq!(app.get_as(&employee, &members).await.status(), 200, "not frozen yet");
    // The member cannot freeze anyone, token or not.
    let theirs = token_in(
        &get(&app, "/account/real-name", &as_employee)
            .await
            .text()
            .await
            .unwrap(),
    );
    let owner_id = app.json_as(&owner, "/api/v1/whoami").await["account_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_member = [("csrf", theirs.as_str()), ("action", "freeze"), ("reason", "试试")];
    let resp = post_form(&app, &format!("{path}/members/{owner_id}"), &as_employee, &by_member).await;
    assert_eq!(resp.status(), 403);
    assert!(resp.text().await.unwrap().contains("只有企业创建者和管理员可以这样做"));
    // Nor can another enterprise's owner, here or through their own.
    let stranger_csrf = token_in(
        &get(&app, "/account/real-name", &as_stranger)
            .await
            .text()
            .await
            .unwrap(),
    );
    let r = app
        .post_as(
            &stranger,
            "/api/v1/enterprises",
            serde_json::json!({ "name": "别家公司" }),
        )
        .await;
    let other = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_stranger = [
        ("csrf", stranger_csrf.as_str()),
        ("action", "freeze"),
        ("reason", "试试"),
    ];
    for target in [act.clone(), format!("/enterprises/{other}/members/{account}")] {
        let resp = post_form(&app, &target, &as_stranger, &by_stranger).await;
        assert_eq!(resp.status(), 404, "{target}");
    }
    let freeze = [("csrf", csrf.as_str()), ("action", "freeze"), ("reason", "离职审计")];
    let resp = post_form(&app, &act, &as_owner, &freeze).await;
    assert_eq!(resp.status(), 303);
    let done = format!("{path}?done=frozen");
    assert_eq!(resp.headers()[LOCATION], done.as_str());
    let html = get(&app, &done, &as_owner).await.text().await.unwrap();
    assert!(html.contains("已冻结该成员") && html.contains("离职审计"), "{html}");
    assert_eq!(app.get_as(&employee, &members).await.status(), 403);
    assert_eq!(get(&app, &path, &as_employee).await.status(), 403);
    let unfreeze = [("csrf", csrf.as_str()), ("action", "unfreeze")];
    assert_eq!(post_form(&app, &act, &as_owner, &unfreeze).await.status(), 303);
    assert_eq!(app.get_as(&employee, &members).await.status(), 200);

    // The enterprise's log, for admins.
    let html = get(&app, &format!("{path}/audit"), &as_owner)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("冻结成员") && html.contains("解冻成员"), "{html}");
}

#[tokio::test]
async fn admins_decide_a_waiting_rebind_on_the_enterprise_page() {
    let (app, owner, employee, id, _) = managed_employee().await;
    let path = format!("/enterprises/{id}");
    let as_owner = format!("shiming_session={owner}");
    let approval = asked_for(&app, &employee).await;
    let html = get(&app, &path, &as_owner).await.text().await.unwrap();
    assert!(html.contains(&format!("id=\"approval-{approval}\"")), "{html}");
    let csrf = token_in(&html);
    let decide = format!("{path}/rebind-approvals/{approval}");

    // Denying takes a reason; the member sees it.
    let no_reason = [("csrf", csrf.as_str()), ("action", "deny"), ("reason", "")];
    assert_eq!(post_form(&app, &decide, &as_owner, &no_reason).await.status(), 400);
    let deny = [("csrf", csrf.as_str()), ("action", "deny"), ("reason", "请先交接")];
    let resp = post_form(&app, &decide, &as_owner, &deny).await;
    assert_eq!(resp.status(), 303);
    let html = get(&app, &format!("{path}?done=rebind_denied"), &as_owner)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("已拒绝") && !html.contains(&format!("id=\"approval-{approval}\"")));
    let mine = app.json_as(&employee, "/api/v1/account/rebind-approvals").await;
    assert_eq!(mine["approvals"][0]["reason"], "请先交接");
    // Decided: a second decision says so.
    let approve = [("csrf", csrf.as_str()), ("action", "approve")];
    let resp = post_form(&app, &decide, &as_owner, &approve).await;
    assert_eq!(resp.status(), 409);

    // Approved: the member's rebind is done.
    let approval = asked_for(&app, &employee).await;
    let decide = format!("{path}/rebind-approvals/{approval}");
    let resp = post_form(&app, &decide, &as_owner, &approve).await;
    assert_eq!(
        resp.headers()[LOCATION],
        format!("{path}?done=rebind_approved").as_str()
    );
    assert_eq!(app.json_as(&employee, "/api/v1/whoami").await["nature"], "personal");
}

#[tokio::test]
async fn signing_in_goes_on_to_a_page_of_this_service_only() {
    let app = spawn_app().await;
    for next in ["//evil.example/x", "https://evil.example/", "/\\evil.example"] {
        let (html, resp) = sign_in_by_form(&app, next, "+8613800000021").await;
        assert!(!html.contains("name=\"next\""), "{next} kept");
        assert_eq!(resp.headers()[LOCATION], "/account", "{next}");
        app.advance(61);
    }
}

/// The CSRF token of the first form in `html`.
fn token_in(html: &str) -> String {
    let (_, rest) = html.split_once("name=\"csrf\" value=\"").expect("a form with a token");
    rest.split('"').next().unwrap().to_owned()
}

/// Signs in through the sign-in page opened as `/login?next=<next>`, posting
/// `next` back as the page would: the page's HTML and the sign-in's answer.
async fn sign_in_by_form(app: &TestApp, next: &str, phone: &str) -> (String, Response) {
    let login = get(app, &format!("/login?next={}", urlencode(next)), "").await;
    let cookie = cookies(&login);
    let html = login.text().await.unwrap();
    let csrf = token_in(&html);
    let send = [("csrf", csrf.as_str()), ("phone", phone), ("action", "send")];
    post_form(app, "/login", &cookie, &send).await;
    let code = app.latest_code(phone).await;
    let form = [
        ("csrf", csrf.as_str()),
        ("phone", phone),
        ("code", &code),
        ("action", "login"),
        ("next", next),
    ];
    let resp = post_form(app, "/login", &cookie, &form).await;
    (html, resp)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
