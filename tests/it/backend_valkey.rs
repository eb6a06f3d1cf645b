//! How the backend uses Valkey: the update stream's blocking read on a
//! connection of its own, so that the API's reads never queue behind it.

use std::time::Duration;

use crate::support::{BACKEND_READY, Backend, PostgresGuard, ValkeyGuard};

/// The connections of `CLIENT LIST` as (id, last command), the listing
/// connection itself left out.
fn connections(valkey: &ValkeyGuard) -> Vec<(String, String)> {
    valkey
        .cli(&["CLIENT", "LIST"])
        .lines()
        .filter_map(|line| {
            let field = |name: &str| {
                line.split(' ')
                    .find_map(|kv| kv.strip_prefix(name))
                    .map(str::to_owned)
            };
            Some((field("id=")?, field("cmd=")?))
        })
        .filter(|(_, cmd)| cmd != "client|list")
        .collect()
}

#[test]
fn the_update_stream_is_read_on_a_connection_of_its_own_so_that_a_point_read_never_waits_for_it() {
    let pg = PostgresGuard::start();
    let valkey = ValkeyGuard::start();
    let url = pg.create_database("stream_connection");
    let backend = Backend::start(&url, &valkey, &[]);
    backend.until_ready_is(200, BACKEND_READY);
    valkey.cli(&[
        "SET",
        "process:image:casdu:1:ioa:1",
        r#"{"casdu":1,"ioa":1}"#,
    ]);

    // The follower blocks in XREAD on an idle stream; a read of a point
    // sends GET. On one shared connection the GET waits for the XREAD to
    // end and the same connection shows one or the other; on two, both.
    backend.until(
        "an XREAD and a GET on two connections of the backend",
        Duration::from_secs(10),
        || {
            let point = backend.get("/api/v1/points/1/1");
            assert_eq!(point.status, 200, "{}", point.body);
            let listed = connections(&valkey);
            let on = |cmd: &str| {
                listed
                    .iter()
                    .filter(|(_, c)| c == cmd)
                    .map(|(id, _)| id.clone())
                    .collect::<Vec<_>>()
            };
            let (xread, get) = (on("xread"), on("get"));
            !xread.is_empty() && !get.is_empty() && xread.iter().all(|id| !get.contains(id))
        },
    );
}
