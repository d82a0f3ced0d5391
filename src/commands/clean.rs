//! `sqlgrade clean`: removes what graders killed with SIGKILL left behind. On an existing
//! server, the roles and databases marked with a run that is gone (or, with `--all`, of
//! runs this machine cannot see); otherwise the throwaway local clusters and containers
//! whose grader is gone. Every normal run does the same for its own kind of server.

use crate::db::server::{DockerChoice, Server, Target};
use crate::db::{LocalCluster, docker};
use crate::exit;
use crate::plan::Plan;

use super::print_error;

pub async fn run(plan: &Plan, all: bool) -> i32 {
    let Target::Url(_) = &plan.target else {
        LocalCluster::reap_orphans();
        if docker::ping(docker::PING_LIMIT).await.is_ok() {
            docker::reap_orphans().await;
        }
        crate::outln!("removed the local clusters and containers of graders that are gone");
        return exit::PASSED;
    };
    let choice = DockerChoice {
        image: String::new(),
        container: String::new(),
    };
    // Provisioning an existing server already removes what gone runs left; `--all` goes
    // on to what other machines' runs left.
    let fetch = crate::db::fetch::FetchOptions::from_env(plan.offline);
    let server = match Server::provision(&plan.target, None, &choice, None, fetch).await {
        Ok(s) => s,
        Err(e) => {
            print_error(&e);
            return exit::NO_DATABASE;
        }
    };
    let (removed, kept) = server.link.remove_stale(all).await;
    let mut removed = removed;
    removed.extend(server.link.removed_at_start());
    for r in &removed {
        crate::outln!("removed {r}");
    }
    for k in &kept {
        crate::outln!("kept {k}");
    }
    if removed.is_empty() && kept.is_empty() {
        crate::outln!("nothing to remove");
    }
    super::close(server).await;
    if !kept.is_empty() && !all {
        eprintln!("sqlgrade: pass --all to remove those of runs this machine cannot see too");
    }
    exit::PASSED
}
