use serde_json::json;

use super::*;

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn an_mqtt_configuration_is_its_settings_with_the_linked_mappings_in_link_order() {
    let settings = json!({"broker": {"host": "b"}, "silence_timeout": 60});
    let mappings = vec![
        (String::from("m2"), json!({"topic": "a", "points": []})),
        (String::from("m1"), json!({"topic": "b", "points": []})),
    ];
    let effective = compose(ConnectorKind::Mqtt, &settings, &mappings);
    assert_eq!(
        effective,
        json!({"broker": {"host": "b"}, "silence_timeout": 60, "mappings": [
            {"id": "m2", "topic": "a", "points": []},
            {"id": "m1", "topic": "b", "points": []}]})
    );
    let inbound = compose(ConnectorKind::Iec104Inbound, &json!({"port": 2404}), &[]);
    assert_eq!(inbound, json!({"port": 2404}));
}

#[test]
fn a_setting_out_of_range_is_refused_naming_the_managed_key_and_the_range() {
    let e = check(
        ConnectorKind::Iec104Inbound,
        "rtu-1",
        &json!({"port": 70000}),
        &[],
    )
    .unwrap_err();
    assert_eq!(e.field, "settings.port");
    assert!(e.message.contains("1..=65535"), "{}", e.message);
    let e = check(ConnectorKind::Iec104Server, "srv", &json!({"k": 0}), &[]).unwrap_err();
    assert_eq!(e.field, "settings.k");
    let e = check(
        ConnectorKind::Iec104Inbound,
        "rtu-1",
        &json!({"nope": 1}),
        &[],
    )
    .unwrap_err();
    assert_eq!(e.field, "settings.nope");
    assert!(
        e.message.contains("host"),
        "the allowed keys are listed: {}",
        e.message
    );
}

#[test]
fn valid_settings_of_every_kind_pass_the_roles_own_check() {
    check(
        ConnectorKind::Iec104Inbound,
        "rtu-1",
        &json!({"host": "10.0.0.1", "port": 2404, "common_addresses": [1]}),
        &[],
    )
    .unwrap();
    check(
        ConnectorKind::Iec104Server,
        "srv",
        &json!({"port": 2404}),
        &[],
    )
    .unwrap();
    check(
        ConnectorKind::Mqtt,
        "mqtt-1",
        &json!({"broker": {"host": "b", "port": 1883}, "mappings": [
            {"id": "m", "topic": "s/+/c", "points": [{"casdu": 1, "ioa": 2, "type": "M_ME_NC_1", "value": "$.t"}]}]}),
        &ids(&["m"]),
    )
    .unwrap();
}

#[test]
fn an_mqtt_broker_error_is_a_broker_field_and_a_mapping_error_names_the_mapping() {
    let e = check(
        ConnectorKind::Mqtt,
        "mqtt-1",
        &json!({"broker": {"port": 0}, "mappings": []}),
        &[],
    )
    .unwrap_err();
    assert!(e.field.starts_with("settings.broker"), "{e:?}");
    let effective = json!({"mappings": [
        {"id": "ok", "topic": "a", "points": []},
        {"id": "bad", "topic": "b", "points": [{"casdu": 1, "ioa": 2, "type": "M_XX", "value": "$"}]}]});
    let e = check(
        ConnectorKind::Mqtt,
        "mqtt-1",
        &effective,
        &ids(&["ok", "bad"]),
    )
    .unwrap_err();
    assert!(e.field.starts_with("mappings[1].points[0]"), "{e:?}");
    assert!(e.message.starts_with("mapping \"bad\": "), "{e:?}");
}

#[test]
fn settings_of_an_mqtt_connector_may_not_hold_mappings() {
    let e = check_settings_shape(ConnectorKind::Mqtt, &json!({"mappings": []})).unwrap_err();
    assert_eq!(e.field, "settings.mappings");
    let e = check_settings_shape(ConnectorKind::Iec104Server, &json!([1])).unwrap_err();
    assert_eq!(e.field, "settings");
    check_settings_shape(ConnectorKind::Iec104Inbound, &json!({})).unwrap();
}

#[test]
fn a_mapping_alone_is_checked_with_fields_inside_the_mapping() {
    let ok = json!({"id": "m", "topic": "a/b", "points": [{"casdu": 1, "ioa": 2, "type": 13, "value": "$"}]});
    check_mapping(&ok).unwrap();
    let bad = json!({"id": "m", "topic": "a/b", "points": [{"casdu": 1, "ioa": 16777216, "type": 13, "value": "$"}]});
    let e = check_mapping(&bad).unwrap_err();
    assert_eq!(e.field, "points[0].ioa", "{e:?}");
    let e = check_mapping(&json!({"id": "m", "points": []})).unwrap_err();
    assert!(
        e.field.contains("topic") || e.message.contains("topic"),
        "{e:?}"
    );
}

#[test]
fn claims_are_mapped_points_and_the_whole_stations_of_an_inbound_connector() {
    let mqtt = json!({"mappings": [{"id": "m", "topic": "t", "points": [
        {"casdu": 1, "ioa": 2}, {"casdu": 70000, "ioa": 1}, {"casdu": 1, "ioa": 16777216}]}]});
    assert_eq!(
        claims(ConnectorKind::Mqtt, "q", &mqtt),
        vec![Claim {
            casdu: 1,
            ioa_from: 2,
            ioa_to: 2,
            connector: "q".into(),
            mapping: Some("m".into())
        }]
    );
    let inbound = json!({"common_addresses": [5, 6]});
    let c = claims(ConnectorKind::Iec104Inbound, "rtu", &inbound);
    assert_eq!(c.len(), 2);
    assert_eq!(
        (c[1].casdu, c[1].ioa_from, c[1].ioa_to, c[1].mapping.clone()),
        (6, 0, IOA_MAX, None)
    );
    assert!(
        claims(
            ConnectorKind::Iec104Server,
            "s",
            &json!({"common_addresses": [1]})
        )
        .is_empty()
    );
}

fn point(connector: &str, mapping: &str, casdu: u16, ioa: u32) -> Claim {
    Claim {
        casdu,
        ioa_from: ioa,
        ioa_to: ioa,
        connector: connector.into(),
        mapping: Some(mapping.into()),
    }
}

fn station(connector: &str, casdu: u16) -> Claim {
    Claim {
        casdu,
        ioa_from: 0,
        ioa_to: IOA_MAX,
        connector: connector.into(),
        mapping: None,
    }
}

#[test]
fn a_second_owner_of_a_point_is_a_conflict_naming_the_existing_owner_first() {
    let all = vec![
        point("new", "m2", 1, 7),
        point("old", "m1", 1, 7),
        point("old", "m1", 1, 8),
    ];
    let c = conflicts(&all, &ids(&["new"])).unwrap();
    assert_eq!((c.casdu, c.ioa), (1, 7));
    assert_eq!(c.first, point("old", "m1", 1, 7));
    assert_eq!(c.second, point("new", "m2", 1, 7));
}

#[test]
fn a_point_inside_another_connectors_station_is_a_conflict_and_two_mappings_of_one_connector_too() {
    let all = vec![station("rtu", 3), point("q", "m", 3, 100)];
    let c = conflicts(&all, &ids(&["q"])).unwrap();
    assert_eq!(c.first, station("rtu", 3));
    assert_eq!(c.second, point("q", "m", 3, 100));
    let all = vec![point("q", "a", 1, 1), point("q", "b", 1, 1)];
    assert!(conflicts(&all, &ids(&["q"])).is_some());
    let all = vec![station("r1", 9), station("r2", 9)];
    assert!(conflicts(&all, &ids(&["r2"])).is_some());
}

#[test]
fn disjoint_claims_and_conflicts_among_untouched_connectors_are_no_conflict_of_this_change() {
    let all = vec![
        point("a", "m", 1, 1),
        point("b", "n", 1, 2),
        station("rtu", 2),
    ];
    assert_eq!(conflicts(&all, &ids(&["a", "b", "rtu"])), None);
    let old_clash = vec![
        point("x", "m", 1, 1),
        point("y", "n", 1, 1),
        point("z", "o", 2, 2),
    ];
    assert_eq!(conflicts(&old_clash, &ids(&["z"])), None);
}
