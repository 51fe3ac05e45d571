use super::*;

const SAMPLE: &str = include_str!("../../tests/fixtures/latency/sample.jsonl");

/// A turn whose stages are known: hangover 600, stt 100, decide 2, llm 150, aggregation 200,
/// tts 120, playout 20 (ms).
fn turn() -> TurnLatency {
    let s = 1_767_000_000.0;
    TurnLatency {
        turn_id: "turn_1_1767000000".into(),
        user_id: "7".into(),
        t0_vad_start: Some(s - 1.5),
        t_speech_end: Some(s),
        t_vad_end: Some(s + 0.6),
        t_asr_start: Some(s - 1.45),
        t_asr_final: Some(s + 0.7),
        t_llm_start: Some(s + 0.702),
        t_llm_first_token: Some(s + 0.852),
        t_first_phrase: Some(s + 1.052),
        t_llm_complete: Some(s + 1.5),
        t_tts_start: Some(s + 1.052),
        t_tts_first_audio: Some(s + 1.172),
        t_first_audio_sent: Some(s + 1.192),
        t_playback_end: Some(s + 3.692),
        ..TurnLatency::default()
    }
}

#[test]
fn stages_add_up_to_wall_clock_ttfa() {
    let t = turn();
    let stages: Vec<(&str, f64)> = t.stages().iter().map(|(s, v)| (s.name(), *v)).collect();
    assert_eq!(
        stages,
        [
            ("vad_hangover", 600.0),
            ("stt", 100.0),
            ("decide", 2.0),
            ("llm_ttft", 150.0),
            ("aggregation", 200.0),
            ("tts", 120.0),
            ("playout", 20.0)
        ]
    );
    let m = t.metrics();
    assert_eq!(m.ttfa_ms, Some(1192.0));
    assert_eq!(stages.iter().map(|(_, v)| v).sum::<f64>(), 1192.0);
    assert_eq!(m.bridge_overhead_ms, Some(22.0));
    assert_eq!(m.total_ttfa_ms, Some(572.0));
    assert_eq!(m.vad_hangover_ms, Some(600.0));
    assert_eq!(m.asr_ms, Some(2150.0));
    assert_eq!(m.llm_ttft_ms, Some(150.0));
    assert_eq!(m.text_aggregation_ms, Some(200.0));
    assert_eq!(m.tts_ttfa_ms, Some(120.0));
    assert_eq!(m.playout_ms, Some(20.0));
    assert_eq!(m.total_turn_ms, Some(5192.0));
    assert_eq!(m.ttfa_sum_ms, Some(2420.0));
}

#[test]
fn early_final_and_missing_stages_are_clamped_and_folded() {
    let mut t = turn();
    // The STT's early final came 50 ms before the VAD declared the end: STT costs nothing.
    t.t_asr_final = Some(1_767_000_000.55);
    t.t_llm_start = Some(1_767_000_000.602);
    let m = t.metrics();
    assert_eq!(m.stages.get("stt").and_then(|v| v.as_f64()), Some(0.0));
    assert_eq!(m.stages.get("decide").and_then(|v| v.as_f64()), Some(2.0));
    // A missing timestamp folds its stage into the next one; the sum still equals TTFA.
    let mut t = turn();
    t.t_first_phrase = None;
    let stages = t.stages();
    assert_eq!(stages.len(), 6);
    assert_eq!(stages.iter().map(|(_, v)| v).sum::<f64>(), 1192.0);
    assert_eq!(t.metrics().bridge_overhead_ms, None, "overhead needs every stage");
    // No first audio: no TTFA and no stages.
    let mut t = turn();
    t.t_first_audio_sent = None;
    assert_eq!((t.metrics().ttfa_ms, t.stages().len()), (None, 0));
}

#[test]
fn json_line_round_trips_with_metrics_and_nulls() {
    let t = turn();
    let line = t.to_json_line();
    assert!(!line.contains('\n'));
    let value: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(value["metrics"]["ttfa_ms"], serde_json::json!(1192.0));
    assert_eq!(value["metrics"]["stages"]["tts"], serde_json::json!(120.0));
    assert!(value["t_barge_in"].is_null(), "missing timestamps are null, not 0");
    let back: TurnLatency = serde_json::from_str(&line).unwrap();
    assert_eq!(back, t);
}

#[test]
fn summary_line_matches_the_python_format() {
    assert_eq!(turn().summary_line(), "Turn turn_1_1767000000: TTFA=1192ms (ASR=2150ms, LLM=150ms, TTS=120ms)");
    assert_eq!(TurnLatency::default().summary_line(), "Turn : TTFA=-ms (ASR=-ms, LLM=-ms, TTS=-ms)");
}

#[test]
fn barge_in_metrics() {
    let mut t = turn();
    t.t_barge_in = Some(1_767_000_002.0);
    t.t_llm_cancelled = Some(1_767_000_002.035);
    t.t_audio_stopped = Some(1_767_000_002.018);
    let m = t.metrics();
    assert_eq!((m.bargein_to_llm_dropped_ms, m.bargein_to_audio_stopped_ms), (Some(35.0), Some(18.0)));
}

#[test]
fn wall_clock_conversion() {
    let origin = Instant::now();
    let clock = WallClock::anchored(origin, 1000.0);
    assert_eq!(clock.epoch(origin + std::time::Duration::from_millis(1500)), 1001.5);
    assert!(WallClock::new().epoch(Instant::now()) > 1.7e9);
}

#[test]
fn percentiles_interpolate() {
    let v = [1.0, 2.0, 3.0, 4.0, 5.0];
    assert_eq!(report::percentile(&v, 0.5), Some(3.0));
    assert_eq!(report::percentile(&v, 0.9), Some(4.6));
    assert_eq!(report::percentile(&[7.0], 0.99), Some(7.0));
    assert_eq!(report::percentile(&[], 0.5), None);
}

#[test]
fn report_of_the_sample_file() {
    let r = report_from_jsonl(SAMPLE);
    assert_eq!((r.turns, r.skipped), (7, 1));
    let row = |label: &str| -> Vec<String> {
        let line = r.table.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("{label} in\n{}", r.table));
        line[label.len()..].split_whitespace().map(str::to_owned).collect()
    };
    // TTFA of the six spoken turns: 1192, 1223, 1254, 1254, 1285, 1316.
    assert_eq!(row("TTFA (speech end -> first audio sent)"), ["6", "1254.0", "1300.5", "1314.5", "1254.0"]);
    assert_eq!(row("  vad hangover")[..2], ["6".to_string(), "600.0".to_string()]);
    assert_eq!(row("bridge overhead")[..2], ["6".to_string(), "24.0".to_string()]);
    assert_eq!(row("barge-in -> audio stopped")[..2], ["1".to_string(), "18.0".to_string()]);
    assert!(r.table.starts_with("7 turns (1 unreadable lines skipped)"), "{}", r.table);

    assert!(r.svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(r.svg.trim_end().ends_with("</svg>"));
    // One bar per turn with a TTFA, plus the medians bar; 7 stages each.
    assert_eq!(r.svg.matches("<title>").count(), 7 * 7);
    assert!(r.svg.contains(">median of each stage<"));
    assert!(r.svg.contains(">turn_6_1767000050<"));
    for stage in Stage::ALL {
        assert!(r.svg.contains(&format!(">{}</text>", stage.name())), "legend for {}", stage.name());
    }
}

#[test]
fn report_from_a_file_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latency.jsonl");
    let mut log = LatencyLog::open(&path).unwrap();
    log.write(&turn()).unwrap();
    log.write(&turn()).unwrap();
    drop(log);
    let r = latency_report(&path).unwrap();
    assert_eq!(r.turns, 2);
    assert!(r.table.contains("1192.0"));
    let (table, svg) = write_report(&path, None).unwrap();
    assert_eq!(svg, dir.path().join("latency.jsonl.svg"));
    assert!(table.contains("1192.0") && std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
    let chosen = dir.path().join("chart.svg");
    assert_eq!(write_report(&path, Some(&chosen)).unwrap().1, chosen);
    std::fs::write(&path, "\n").unwrap();
    assert!(matches!(latency_report(&path), Err(LatencyError::Empty { .. })));
    assert!(matches!(latency_report(&dir.path().join("missing")), Err(LatencyError::Io { .. })));
}

#[test]
fn svg_escapes_turn_ids() {
    let mut t = turn();
    t.turn_id = "<&\">".into();
    let r = report_from_jsonl(&t.to_json_line());
    assert!(r.svg.contains("&lt;&amp;&quot;&gt;"));
    assert!(!r.svg.contains("<&"));
}
