//! The eci-guard command line. Thin: parses arguments, calls the core crates, prints.

fn main() {
    println!("eci-guard");
}
