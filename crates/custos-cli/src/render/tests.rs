use super::human_seconds;

#[test]
fn durations_read_short() {
    assert_eq!(human_seconds(0), "0s");
    assert_eq!(human_seconds(45), "45s");
    assert_eq!(human_seconds(600), "10m");
    assert_eq!(human_seconds(659), "10m");
    assert_eq!(human_seconds(7200), "2h 0m");
    assert_eq!(human_seconds(2 * 3600 + 15 * 60 + 59), "2h 15m");
    assert_eq!(human_seconds(3 * 86_400 + 4 * 3600 + 59), "3d 4h");
}
