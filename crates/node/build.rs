//! Link settings of a Node.js addon (napi-rs).

fn main() {
    napi_build::setup();
}
