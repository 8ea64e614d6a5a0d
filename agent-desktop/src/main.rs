//! hotline-desktop: the egui agent and supervisor desktop. Not built yet (see the README status table).

fn main() {
    eprintln!("hotline-desktop is not built yet: see the status table in README.md");
    std::process::exit(2);
}
