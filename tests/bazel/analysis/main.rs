fn main() {
    println!("analysis test fixture");
}
