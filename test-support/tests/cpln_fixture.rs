//! The Control Plane fixture answers as the real API does for what the inventory reads: the
//! list envelope with `next` links, deployments with versions and job executions, faults, and
//! counters that count what was asked.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;

use serde_json::Value;
use windlass_test_support::cpln::{CplnFixture, Fault, FixtureSpec, Workload};
use windlass_test_support::http::Api;

async fn fixture(spec: FixtureSpec) -> (CplnFixture, Api) {
    let fixture = CplnFixture::start(spec).await.unwrap();
    let api = Api::new(fixture.host().parse::<SocketAddr>().unwrap());
    (fixture, api)
}

#[tokio::test]
async fn listings_are_paged_by_next_links() {
    let (fixture, api) = fixture(
        FixtureSpec::new("acme")
            .with_many("prod", 5)
            .with_page_size(2),
    )
    .await;
    let mut path = "/org/acme/gvc/prod/workload".to_owned();
    let mut names = Vec::new();
    loop {
        let answer = api
            .send(b"GET", &path, &[("authorization", "Bearer test-token")], "")
            .await
            .unwrap();
        assert_eq!(answer.status, 200);
        let body = answer.json();
        assert_eq!(body["kind"], "list");
        assert_eq!(body["itemKind"], "workload");
        for item in body["items"].as_array().unwrap() {
            assert_eq!(item["kind"], "workload");
            names.push(item["name"].as_str().unwrap().to_owned());
        }
        let next = body["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "next")
            .map(|l| l["href"].as_str().unwrap().to_owned());
        match next {
            Some(href) => path = href,
            None => break,
        }
    }
    assert_eq!(names, ["w0000", "w0001", "w0002", "w0003", "w0004"]);
    assert_eq!(fixture.listing_calls("prod"), 3);
    // The raw token is accepted too; a wrong one is not.
    let raw = api
        .send(
            b"GET",
            "/org/acme/gvc/prod/workload",
            &[("authorization", "test-token")],
            "",
        )
        .await
        .unwrap();
    assert_eq!(raw.status, 200);
    let wrong = api
        .send(
            b"GET",
            "/org/acme/gvc/prod/workload",
            &[("authorization", "Bearer nope")],
            "",
        )
        .await
        .unwrap();
    assert_eq!(wrong.status, 401);
    assert_eq!(fixture.status_count(401), 1);
}

#[tokio::test]
async fn deployments_carry_versions_jobs_and_suspension() {
    let spec = FixtureSpec::new("acme")
        .with_workload(
            Workload::standard("prod", "web", "nginx:1")
                .rolling_out()
                .in_locations(&["aws-us-west-2", "gcp-us-east1"])
                .with_suspended_location("gcp-us-east1"),
        )
        .with_workload(Workload::cron("prod", "nightly", "busybox:1").with_failed_job())
        .with_workload(Workload::standard("prod", "idle", "nginx:1").suspended());
    let (fixture, api) = fixture(spec).await;
    let get = |path: &'static str| {
        let api = api.clone();
        async move {
            api.send(b"GET", path, &[("authorization", "Bearer test-token")], "")
                .await
                .unwrap()
                .json()
        }
    };
    let web = get("/org/acme/gvc/prod/workload/web/deployment").await;
    assert_eq!(web["itemKind"], "deployment");
    let west = &web["items"][0]["status"];
    assert_eq!(west["lastProcessedVersion"], 2);
    assert_eq!(west["expectedDeploymentVersion"], 3);
    assert_eq!(west["versions"].as_array().unwrap().len(), 2);
    assert_eq!(west["versions"][0]["containers"]["main"]["ready"], false);
    assert_eq!(
        west["versions"][1]["containers"]["main"]["resources"]["replicasReady"],
        1
    );
    let east = &web["items"][1]["status"];
    assert_eq!(east["ready"], false);
    assert_eq!(east["message"], "Location is suspended");
    let nightly = get("/org/acme/gvc/prod/workload/nightly/deployment").await;
    let jobs = nightly["items"][0]["status"]["jobExecutions"]
        .as_array()
        .unwrap();
    assert_eq!(
        jobs.iter()
            .map(|j| j["status"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["successful", "failed"]
    );
    let idle = get("/org/acme/gvc/prod/workload/idle/deployment").await;
    let main = &idle["items"][0]["status"]["versions"][0]["containers"]["main"];
    assert_eq!(main["resources"].get("replicasReady"), None::<&Value>);
    assert_eq!(main["message"], "Workload is suspended");
    assert_eq!(fixture.deployment_calls("prod", "web"), 1);
}

#[tokio::test]
async fn faults_answer_as_chosen() {
    let spec = FixtureSpec::new("acme")
        .with_many("prod", 5)
        .with_fault(
            "w0000",
            Fault::Throttle {
                times: 2,
                retry_after_s: Some(1),
            },
        )
        .with_fault("w0001", Fault::Quota)
        .with_fault("w0002", Fault::Forbidden)
        .with_fault("w0003", Fault::ServerError(503));
    let (fixture, api) = fixture(spec).await;
    let get = |w: &str| {
        let api = api.clone();
        let path = format!("/org/acme/gvc/prod/workload/{w}/deployment");
        async move {
            api.send(b"GET", &path, &[("authorization", "Bearer test-token")], "")
                .await
                .unwrap()
        }
    };
    let first = get("w0000").await;
    assert_eq!(first.status, 429);
    assert_eq!(first.headers["retry-after"], "1");
    assert_eq!(get("w0000").await.status, 429);
    assert_eq!(get("w0000").await.status, 200);
    let quota = get("w0001").await;
    assert_eq!(quota.status, 429);
    assert!(quota.headers.get("retry-after").is_none());
    assert!(
        quota.json()["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("quota exceeded")
    );
    assert_eq!(get("w0002").await.status, 403);
    assert_eq!(get("w0003").await.status, 503);
    assert_eq!(get("nope").await.status, 403);
    assert_eq!(fixture.deployment_calls("prod", "w0000"), 3);
    assert_eq!(fixture.total_calls(), 7);
    assert_eq!(fixture.status_count(429), 3);
}
