fn main() {
    println!("cc_level example");
}
