//! Compiles the sentinels' gRPC schemas (`proto/sentinel.proto`) when the `grpc` feature is on,
//! with the `protoc` shipped by the protoc-bin-vendored crate, so no system protoc is needed.

fn main() {
    #[cfg(feature = "grpc")]
    grpc();
}

#[cfg(feature = "grpc")]
fn grpc() {
    println!("cargo:rerun-if-changed=proto/sentinel.proto");
    let protoc = protoc_bin_vendored::protoc_bin_path().expect("protoc-bin-vendored has a protoc for this platform");
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure()
        .compile_with_config(config, &["proto/sentinel.proto"], &["proto"])
        .expect("compile proto/sentinel.proto");
}
