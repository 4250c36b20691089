//! Writes the `keyward` man pages and shell completions from the clap definitions (src/args.rs),
//! so they never drift from the command line: `make package` runs it and packs the output.
//!
//!   cargo run -p keyward-cli --example keyward-docs -- OUT_DIR
//!
//! OUT_DIR/man/keyward.1, keyward-key.1, keyward-key-create.1, … (one page per command);
//! OUT_DIR/completions/keyward.bash, _keyward (zsh), keyward.fish.

#[allow(dead_code)] // only the definitions are used here
#[path = "../src/args.rs"]
mod args;

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

fn main() -> std::io::Result<()> {
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/package/cli"));
    let command = args::Cli::command();

    let man = out.join("man");
    std::fs::create_dir_all(&man)?;
    write_man_pages(&man, command.clone(), "keyward")?;

    let completions = out.join("completions");
    std::fs::create_dir_all(&completions)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let path =
            clap_complete::generate_to(shell, &mut command.clone(), "keyward", &completions)?;
        println!("{}", path.display());
    }
    Ok(())
}

/// `keyward.1`, then a page per subcommand (`keyward-key-create.1`), as git's pages are.
fn write_man_pages(dir: &Path, command: clap::Command, name: &str) -> std::io::Result<()> {
    // clap names are `'static` (without its `string` feature); a one-shot tool may leak them.
    let command = command.name(&*Box::leak(name.to_string().into_boxed_str()));
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut page)?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, page)?;
    println!("{}", path.display());
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        write_man_pages(dir, sub.clone(), &format!("{name}-{}", sub.get_name()))?;
    }
    Ok(())
}
