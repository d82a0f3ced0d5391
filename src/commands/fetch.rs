//! `sqlgrade fetch MAJOR`: puts the pinned PostgreSQL build of one major in the cache (see
//! [`crate::db::fetch`]) and prints the folder of its programs, for `--pg-bin` or a script.

use crate::db::fetch::{self, FetchOptions};
use crate::exit;

use super::print_error;

pub async fn run(major: u32, offline: bool) -> i32 {
    let options = FetchOptions::from_env(offline);
    let cached = fetch::pin_for(major).and_then(fetch::cached);
    let found = match cached {
        Some(bin) => Ok(bin),
        // The download and the unpacking block: off the runtime's threads.
        None => tokio::task::spawn_blocking(move || fetch::fetch(major, options))
            .await
            .unwrap_or_else(|e| {
                Err(crate::db::ProvisionError::Fetch(format!(
                    "the fetch stopped: {e}"
                )))
            }),
    };
    match found {
        Ok(bin) => {
            eprintln!("PostgreSQL {major}: {}", bin.version);
            crate::outln!("{}", bin.dir.display());
            exit::PASSED
        }
        Err(e) => {
            print_error(&e);
            exit::NO_DATABASE
        }
    }
}
