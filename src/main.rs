//! The `sqlgrade` binary: parse the command line, run the plan, exit with its code.

fn main() {
    let code = match sqlgrade::cli::parse(std::env::args_os()) {
        Ok(plan) => match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(plan.execute()),
            Err(e) => {
                eprintln!("error: cannot start the async runtime: {e}");
                sqlgrade::exit::USAGE
            }
        },
        Err(sqlgrade::cli::UsageError::Clap(e)) => {
            let _ = e.print();
            if e.use_stderr() {
                sqlgrade::exit::USAGE
            } else {
                sqlgrade::exit::PASSED
            }
        }
        Err(sqlgrade::cli::UsageError::Invalid(msg)) => {
            eprintln!("error: {msg}");
            sqlgrade::exit::USAGE
        }
    };
    std::process::exit(code);
}
