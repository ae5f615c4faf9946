//! The smallest Ferrite program: prints a greeting and its arguments, exits with 0.
#![no_std]
#![no_main]

use ferrite_rt::println;

ferrite_rt::main!(main);

fn main() -> i32 {
    let args = ferrite_rt::args();
    println!("Hello from {}! I got {} argument(s): {:?}", args[0], args.len() - 1, &args[1..]);
    0
}
