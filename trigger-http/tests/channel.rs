//! The HTTP trigger against `TriggerEvents::channel`: each test plays the agent's part.

mod common;

use std::time::{Duration, Instant};

use common::{PATIENCE, Running, post, request, run};
use openprofiling_core::{
    AttributeValue, ProfileId, Reaction, ReactionOutcome, TriggerAction, TriggerEvent,
    TriggerEvents,
};
use openprofiling_trigger_http::{HttpTrigger, HttpTriggerConfig, MAX_BODY_BYTES};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

type Receiver = mpsc::Receiver<(TriggerEvent, oneshot::Sender<Reaction>)>;

async fn started() -> (Running, Receiver) {
    let (events, receiver) = TriggerEvents::channel(4);
    (run(HttpTrigger::loopback(0), events).await, receiver)
}

/// Sends `POST path` and answers the event it produces with `outcome`; gives both.
async fn exchange(
    running: &Running,
    receiver: &mut Receiver,
    path: &str,
    body: &str,
    outcome: ReactionOutcome,
) -> (TriggerEvent, common::Response) {
    let address = running.address;
    let (path, body) = (path.to_owned(), body.to_owned());
    let reply = tokio::spawn(async move { post(address, &path, &body).await });
    let (event, answer) = tokio::time::timeout(PATIENCE, receiver.recv())
        .await
        .expect("an event in time")
        .expect("an event");
    answer
        .send(Reaction::immediate(outcome))
        .expect("the trigger waits for the answer");
    (event, reply.await.expect("the request completes"))
}

#[tokio::test]
async fn start_stop_and_toggle_send_their_events_and_say_what_happened() {
    let (running, mut receiver) = started().await;
    let profile = ProfileId::next();

    let (event, reply) = exchange(
        &running,
        &mut receiver,
        "/start",
        r#"{"name":"slow-users","attributes":{"route":"/users","n":3,"hot":true}}"#,
        ReactionOutcome::Started { profile },
    )
    .await;
    assert_eq!(event.action, TriggerAction::Start);
    assert_eq!(event.name.as_deref(), Some("slow-users"));
    assert_eq!(event.attributes["route"], AttributeValue::from("/users"));
    assert_eq!(event.attributes["n"], AttributeValue::Number(3.0));
    assert_eq!(event.attributes["hot"], AttributeValue::Bool(true));
    assert_eq!(event.attributes["trigger"], AttributeValue::from("http"));
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.body["outcome"], "started");
    assert_eq!(reply.body["profile"], json!(profile.get()));
    assert!(
        reply.body["message"]
            .as_str()
            .unwrap_or("")
            .contains("POST /stop"),
        "{:?}",
        reply.body
    );

    let (event, reply) = exchange(
        &running,
        &mut receiver,
        "/stop",
        "",
        ReactionOutcome::Stopped { profile },
    )
    .await;
    assert_eq!(event.action, TriggerAction::End);
    assert_eq!(event.name, None);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["outcome"], "stopped");
    assert_eq!(reply.body["profile"], json!(profile.get()));
    assert!(reply.body.get("report").is_none(), "{:?}", reply.body);

    let capturing = ProfileId::next();
    let (event, reply) = exchange(
        &running,
        &mut receiver,
        "/toggle",
        "{}",
        ReactionOutcome::Capturing { profile: capturing },
    )
    .await;
    assert_eq!(event.action, TriggerAction::Toggle);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["outcome"], "capturing");
    assert_eq!(reply.body["profile"], json!(capturing.get()));

    running.shutdown.cancel();
    running
        .task
        .await
        .expect("run completes")
        .expect("run succeeds");
}

#[tokio::test]
async fn refused_ignored_and_failed_have_their_status_and_reason() {
    let (running, mut receiver) = started().await;
    for (path, outcome, status, name, reason) in [
        (
            "/start",
            ReactionOutcome::Refused {
                reason: "busy: profile 3 is running; end it first".to_owned(),
            },
            409,
            "refused",
            "busy: profile 3 is running; end it first",
        ),
        (
            "/stop",
            ReactionOutcome::Ignored {
                reason: "no profile is running".to_owned(),
            },
            409,
            "ignored",
            "no profile is running",
        ),
        (
            "/toggle",
            ReactionOutcome::Failed {
                reason: "inspector call Profiler.start failed".to_owned(),
            },
            500,
            "failed",
            "inspector call Profiler.start failed",
        ),
    ] {
        let (_, reply) = exchange(&running, &mut receiver, path, "", outcome).await;
        assert_eq!(reply.status, status, "{path}: {:?}", reply.body);
        assert_eq!(reply.body["outcome"], name);
        assert_eq!(reply.body["reason"], reason);
        assert!(reply.body.get("profile").is_none(), "{:?}", reply.body);
    }
    running.shutdown.cancel();
    running
        .task
        .await
        .expect("run completes")
        .expect("run succeeds");
}

#[tokio::test]
async fn bad_requests_are_refused_before_reaching_the_agent() {
    let (running, mut receiver) = started().await;
    let address = running.address;
    for (path, body, status, expected) in [
        ("/start", r#"{"name": "x""#, 400, "malformed JSON body"),
        ("/start", r#"{"nmae": "x"}"#, 400, "unknown field `nmae`"),
        (
            "/stop",
            r#"{"attributes": {"a": [1]}}"#,
            400,
            "attribute \"a\" is an array",
        ),
        (
            "/toggle?wiat=true",
            "",
            400,
            "unknown query parameter \"wiat\"",
        ),
        ("/start?wait=soon", "", 400, "not a boolean"),
    ] {
        let reply = post(address, path, body).await;
        assert_eq!(reply.status, status, "{path} {body}: {:?}", reply.body);
        assert_eq!(reply.body["error"], "bad_request");
        let reason = reply.body["reason"].as_str().expect("a reason");
        assert!(reason.contains(expected), "{path} {body}: {reason}");
    }
    let big = vec![b' '; MAX_BODY_BYTES + 1];
    let reply = request(address, "POST", "/start", &[], &big).await;
    assert_eq!(reply.status, 413, "{:?}", reply.body);
    assert_eq!(reply.body["error"], "payload_too_large");

    let reply = request(address, "GET", "/nope", &[], b"").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.body["error"], "not_found");
    assert!(
        reply.body["reason"]
            .as_str()
            .unwrap_or("")
            .contains("POST /start"),
        "{:?}",
        reply.body
    );
    let reply = request(address, "GET", "/start", &[], b"").await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("POST"));
    assert_eq!(reply.body["error"], "method_not_allowed");
    let reply = request(address, "DELETE", "/status", &[], b"").await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET, HEAD"));

    // None of these reached the agent.
    assert!(receiver.try_recv().is_err());
    running.shutdown.cancel();
    running
        .task
        .await
        .expect("run completes")
        .expect("run succeeds");
}

#[tokio::test]
async fn status_says_what_it_is() {
    let (running, _receiver) = started().await;
    for path in ["/", "/status"] {
        let reply = request(running.address, "GET", path, &[], b"").await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.body["service"], "openprofiling-trigger-http");
        assert_eq!(reply.body["address"], running.address.to_string());
        assert_eq!(reply.body["token_required"], false);
        assert_eq!(reply.body["trigger"], "http 127.0.0.1:0");
        let routes = reply.body["routes"].as_array().expect("routes");
        assert!(routes.contains(&json!("POST /toggle")), "{routes:?}");
    }
    running.shutdown.cancel();
    running
        .task
        .await
        .expect("run completes")
        .expect("run succeeds");
}

#[tokio::test]
async fn a_token_is_required_when_configured() {
    let token = "tok-0123456789abcdef";
    let (events, mut receiver) = TriggerEvents::channel(4);
    let trigger = HttpTrigger::new(HttpTriggerConfig::loopback(0).with_token(token))
        .expect("a loopback trigger with a token");
    let running = run(trigger, events).await;
    let address = running.address;

    let reply = request(address, "POST", "/start", &[], b"").await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.body["error"], "unauthorized");
    let challenge = reply.header("www-authenticate").expect("a challenge");
    assert!(challenge.starts_with("Bearer"), "{challenge}");

    let reply = request(
        address,
        "POST",
        "/start",
        &[("Authorization", "Bearer tok-0123456789abcdeF")],
        b"",
    )
    .await;
    assert_eq!(reply.status, 401);
    assert!(
        reply
            .header("www-authenticate")
            .unwrap_or("")
            .contains("invalid_token")
    );
    assert!(!reply.body.to_string().contains("tok-"), "{:?}", reply.body);

    for path in ["/status", "/nope"] {
        let reply = request(address, "GET", path, &[], b"").await;
        assert_eq!(reply.status, 401, "{path}");
    }
    assert!(receiver.try_recv().is_err(), "nothing reached the agent");

    let bearer = format!("Bearer {token}");
    let reply = request(
        address,
        "GET",
        "/status",
        &[("Authorization", &bearer)],
        b"",
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["token_required"], true);

    let profile = ProfileId::next();
    let reply = tokio::spawn(async move {
        request(
            address,
            "POST",
            "/start",
            &[("authorization", &bearer)],
            b"",
        )
        .await
    });
    let (event, answer) = receiver.recv().await.expect("the event");
    assert_eq!(event.action, TriggerAction::Start);
    answer
        .send(Reaction::immediate(ReactionOutcome::Capturing { profile }))
        .expect("answer");
    let reply = reply.await.expect("the request completes");
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["outcome"], "capturing");

    running.shutdown.cancel();
    running
        .task
        .await
        .expect("run completes")
        .expect("run succeeds");
}

#[test]
fn a_remote_host_without_token_is_refused() {
    for host in ["0.0.0.0", "::", "192.168.1.10", "example.com"] {
        let config = HttpTriggerConfig {
            host: host.to_owned(),
            port: 0,
            ..HttpTriggerConfig::default()
        };
        let error = HttpTrigger::new(config.clone())
            .expect_err("a remote host needs a token")
            .to_string();
        assert!(error.contains("without a token"), "{error}");
        assert!(error.contains("token_env"), "{error}");
        HttpTrigger::new(config.with_token("0123456789abcdef-token"))
            .expect("a remote host with a token is allowed");
    }
}

#[tokio::test]
async fn a_gone_agent_is_503() {
    let (events, receiver) = TriggerEvents::channel(4);
    drop(receiver);
    let running = run(HttpTrigger::loopback(0), events).await;
    let reply = post(running.address, "/start", "").await;
    assert_eq!(reply.status, 503, "{:?}", reply.body);
    assert_eq!(reply.body["outcome"], "unavailable");
    assert!(
        reply.body["reason"]
            .as_str()
            .unwrap_or("")
            .contains("shut down"),
        "{:?}",
        reply.body
    );
    running.shutdown.cancel();
    running
        .task
        .await
        .expect("run completes")
        .expect("run succeeds");
}

#[tokio::test]
async fn shutdown_returns_promptly_with_requests_in_flight() {
    let (running, mut receiver) = started().await;
    let address = running.address;
    // A request the "agent" never answers, and an idle open connection.
    let pending = tokio::spawn(async move { post(address, "/start?wait=true", "").await });
    let (_event, _answer) = receiver.recv().await.expect("the event");
    let _idle = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");

    let began = Instant::now();
    running.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(1), running.task)
        .await
        .expect("run returns within a second")
        .expect("run completes")
        .expect("run succeeds");
    assert!(began.elapsed() < Duration::from_secs(1));
    let reply = pending.await.expect("the pending request completes");
    assert_eq!(reply.status, 503, "{:?}", reply.body);
    assert_eq!(reply.body["outcome"], "unavailable");
    assert_eq!(running.trigger.local_addr().await, None);
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "nothing listens any more"
    );
}

#[tokio::test]
async fn a_port_in_use_is_an_error_that_says_so() {
    let (first, _receiver) = started().await;
    let (events, _receiver2) = TriggerEvents::channel(1);
    let second = HttpTrigger::new(HttpTriggerConfig::loopback(first.address.port()))
        .expect("a loopback trigger");
    let error = tokio::time::timeout(
        PATIENCE,
        openprofiling_core::Trigger::run(&second, events, Default::default()),
    )
    .await
    .expect("run returns")
    .expect_err("the port is taken")
    .to_string();
    assert!(error.contains("cannot listen on 127.0.0.1:"), "{error}");
    assert!(error.contains("choose another `port`"), "{error}");
    assert_eq!(second.local_addr().await, None);
    first.shutdown.cancel();
    first
        .task
        .await
        .expect("run completes")
        .expect("run succeeds");
}
