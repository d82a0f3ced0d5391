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
    // A command stopped because the reader of its output went away ends as `head`
    // expects of a program it cut off: quietly.
    let code = if sqlgrade::out::is_closed() && code == sqlgrade::commands::INTERRUPTED {
        sqlgrade::exit::PASSED
    } else {
        code
    };
    std::process::exit(code);
}
