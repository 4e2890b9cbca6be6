//! Rebuilds the crate when a migration is added or changed: `embed_migrations!` reads
//! the folders at compile time, and cargo would not otherwise notice a new one.

fn main() {
    println!("cargo:rerun-if-changed=postgres");
    println!("cargo:rerun-if-changed=sqlite");
}
