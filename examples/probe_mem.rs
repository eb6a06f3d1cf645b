#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
use alp_connex::config::{Layers, RoleArgs};
use alp_connex::mqtt::config::MqttArgs;
use clap::Parser;
fn rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
        .collect::<Vec<_>>()
        .join(" ")
}
fn main() {
    let mut text = String::from("{\"mappings\":[");
    for i in 0..10_000 {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&format!(
            "{{\"id\":\"m{i}\",\"topic\":\"bench/{i}\",\"points\":["
        ));
        for j in 0..10 {
            if j > 0 {
                text.push(',');
            }
            text.push_str(&format!(
                "{{\"casdu\":{},\"ioa\":{},\"type\":\"M_ME_NC_1\",\"value\":\"$.v{j}\"}}",
                1 + i / 1000,
                1 + (i % 1000) * 10 + j
            ));
        }
        text.push_str("]}");
    }
    text.push_str("]}");
    println!("text {} bytes: {}", text.len(), rss());
    let args = MqttArgs::parse_from(["mqtt", "--id", "x"]);
    let layers: Layers<_> = args.layers().unwrap();
    println!("layers: {}", rss());
    let s = layers.with_managed(&text).unwrap();
    println!("settings: {}", rss());
    let e = alp_connex::mqtt::engine::Engine::shared(s.mappings.config.clone());
    println!("engine (a second one): {}", rss());
    drop(e);
    let mut p = alp_connex::mqtt::points::Points::new("x", s.mappings.config.clone(), 1 << 20);
    println!("Points: {}", rss());
    let payload = "{\"v0\":1,\"v1\":2,\"v2\":3,\"v3\":4,\"v4\":5,\"v5\":6,\"v6\":7,\"v7\":8,\"v8\":9,\"v9\":10}";
    let mut n = 0;
    for i in 0..10_000 {
        n += p.handle(&format!("bench/{i}"), payload.as_bytes(), 1).len();
    }
    println!("{n} points handled: {}", rss());
    println!(
        "size PointMapping {} Mapping {}",
        std::mem::size_of::<alp_connex::mqtt::mapping::PointMapping>(),
        std::mem::size_of::<alp_connex::mqtt::mapping::Mapping>()
    );
}
