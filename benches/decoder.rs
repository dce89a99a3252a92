//! Decoder throughput: a large LDJ stream (2 million `changed` messages by
//! default) sent over loopback, decoded four ways:
//!
//! - **newline counting**: no decoding at all, the ceiling;
//! - **serde_json::Value per line**: `BufRead::read_line`, then an untyped
//!   parse of each line;
//! - **the book's LDJClient design**: append each chunk to a string buffer,
//!   cut it at each `\n`, parse each line into an untyped value (as
//!   `JSON.parse` does), keep the rest for the next chunk;
//! - **net-watcher's `MessageStream`**: `LdjCodec` under tokio-util's
//!   `FramedRead`, decoding into the typed `Message` enum.
//!
//! Two more rows say where the time goes: the codec alone on bytes already
//! in memory, and `MessageStream` on the same messages with their fields
//! reordered, which no server writes, so that every line misses the
//! decoder's short road for the servers' own shape and goes through
//! serde_json.
//!
//! `cargo bench --bench decoder -- [MESSAGES] [--csv=DIR]` (`--csv=DIR`
//! also writes `DIR/decoder.csv`). See BENCHMARKS.md.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use net_watcher::ldj::MessageStream;
use net_watcher::protocol::Message;

use common::results::{DecoderRow, Run, csv_dir, write as write_csv};

/// Runs of each decoder; the table shows the median.
const RUNS: usize = 5;

/// Bytes per read for the hand-written readers: what a Node socket's `data`
/// events typically carry.
const CHUNK: usize = 64 * 1024;

fn main() {
    let messages: usize = common::count_argument(2_000_000);
    let run = Run::now();
    let mut rows = Vec::new();
    let mut record = |decoder: &str, megabytes_per_second: f64, messages_per_second: f64| {
        rows.push(DecoderRow {
            machine: run.machine.clone(),
            date: run.date.clone(),
            arguments: run.arguments.clone(),
            messages,
            decoder: decoder.to_owned(),
            runs: RUNS,
            megabytes_per_second: megabytes_per_second.round(),
            messages_per_second: messages_per_second.round(),
        });
    };
    let mut stream = Vec::with_capacity(messages * 48);
    for i in 0..messages {
        let message = Message::Changed {
            timestamp: 1_450_694_370_094 + i as u64,
        };
        stream.extend_from_slice(message.to_json_line().as_bytes());
    }
    let megabytes = stream.len() as f64 / 1e6;
    println!("# decoder throughput: {messages} messages, {megabytes:.1} MB over loopback");
    println!("machine: {}", common::machine());

    type Decode = fn(TcpStream) -> usize;
    let decoders: [(&str, Decode); 4] = [
        ("newline counting (ceiling)", count_newlines),
        ("serde_json::Value per line", value_per_line),
        ("the book's LDJClient design", book_design),
        ("net-watcher MessageStream (typed)", message_stream),
    ];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); decoders.len()];
    for _ in 0..RUNS {
        for (index, (name, decode)) in decoders.iter().enumerate() {
            let (took, decoded) = over_loopback(&stream, *decode);
            assert_eq!(decoded, messages, "{name} decoded {decoded} of {messages}");
            rates[index].push(megabytes / took.as_secs_f64());
        }
    }
    println!();
    println!("| decoder | MB/s (median of {RUNS}) | messages/s |");
    println!("|---|---:|---:|");
    let mut medians = Vec::new();
    for ((name, _), rates) in decoders.iter().zip(&mut rates) {
        rates.sort_by(f64::total_cmp);
        let median = rates[rates.len() / 2];
        medians.push(median);
        println!(
            "| {name} | {median:.0} | {:.2} M |",
            median / megabytes * messages as f64 / 1e6
        );
        record(name, median, median / megabytes * messages as f64);
    }
    // The codec alone, on bytes already in memory: how much of the time is
    // the typed decoding itself, and how much the socket and the stream.
    let mut in_memory = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let decoded = codec_in_memory(&stream);
        in_memory.push(megabytes / started.elapsed().as_secs_f64());
        assert_eq!(decoded, messages);
    }
    in_memory.sort_by(f64::total_cmp);
    println!(
        "| (LdjCodec alone, bytes already in memory) | {:.0} | {:.2} M |",
        in_memory[RUNS / 2],
        in_memory[RUNS / 2] / megabytes * messages as f64 / 1e6
    );
    record(
        "(LdjCodec alone, bytes already in memory)",
        in_memory[RUNS / 2],
        in_memory[RUNS / 2] / megabytes * messages as f64,
    );
    // The same messages with their fields the other way round: valid, but
    // not the shape servers write, so every line takes serde_json's road.
    // What a stream from some other writer gets.
    let mut reordered = Vec::with_capacity(stream.len());
    for i in 0..messages {
        let timestamp = 1_450_694_370_094 + i as u64;
        reordered.extend_from_slice(
            format!(r#"{{"timestamp":{timestamp},"type":"changed"}}"#).as_bytes(),
        );
        reordered.push(b'\n');
    }
    let mut serde_road = Vec::new();
    for _ in 0..RUNS {
        let (took, decoded) = over_loopback(&reordered, message_stream);
        assert_eq!(decoded, messages);
        serde_road.push(reordered.len() as f64 / 1e6 / took.as_secs_f64());
    }
    serde_road.sort_by(f64::total_cmp);
    println!(
        "| (MessageStream, fields reordered: every line through serde_json) | {:.0} | {:.2} M |",
        serde_road[RUNS / 2],
        serde_road[RUNS / 2] * 1e6 / (reordered.len() as f64 / messages as f64) / 1e6
    );
    record(
        "(MessageStream, fields reordered: every line through serde_json)",
        serde_road[RUNS / 2],
        serde_road[RUNS / 2] * 1e6 / (reordered.len() as f64 / messages as f64),
    );
    println!();
    println!(
        "typed MessageStream / book's design = {:.2}x; / serde_json::Value = {:.2}x; / ceiling = {:.2}",
        medians[3] / medians[2],
        medians[3] / medians[1],
        medians[3] / medians[0]
    );
    if let Some(dir) = csv_dir() {
        write_csv(&dir, "decoder", &rows);
    }
}

/// Serves `stream` to one connection from another thread, and times
/// `decode` reading it to the end.
fn over_loopback(stream: &[u8], decode: fn(TcpStream) -> usize) -> (Duration, usize) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    thread::scope(|scope| {
        scope.spawn(|| {
            let (mut connection, _) = listener.accept().unwrap();
            connection.write_all(stream).unwrap();
        });
        let started = Instant::now();
        let decoded = decode(TcpStream::connect(addr).unwrap());
        (started.elapsed(), decoded)
    })
}

fn count_newlines(mut socket: TcpStream) -> usize {
    let mut buffer = vec![0u8; CHUNK];
    let mut lines = 0;
    loop {
        let read = socket.read(&mut buffer).unwrap();
        if read == 0 {
            return lines;
        }
        lines += buffer[..read].iter().filter(|&&byte| byte == b'\n').count();
    }
}

fn value_per_line(socket: TcpStream) -> usize {
    let mut reader = BufReader::with_capacity(CHUNK, socket);
    let mut line = String::new();
    let mut decoded = 0;
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            return decoded;
        }
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(value.get("type").is_some());
        decoded += 1;
    }
}

/// The book's client, in Rust: a string buffer that every chunk is appended
/// to, cut at each newline, each line parsed into an untyped value.
/// Consumed lines are dropped from the front once per chunk (V8 slices its
/// strings instead of copying them, so copying per line would be unfair).
fn book_design(mut socket: TcpStream) -> usize {
    let mut chunk = vec![0u8; CHUNK];
    let mut buffer = String::new();
    let mut decoded = 0;
    loop {
        let read = socket.read(&mut chunk).unwrap();
        if read == 0 {
            return decoded;
        }
        // `data` events decode to strings (a split UTF-8 character would be
        // replaced; this stream is ASCII).
        buffer.push_str(&String::from_utf8_lossy(&chunk[..read]));
        let mut start = 0;
        while let Some(boundary) = buffer[start..].find('\n') {
            let line = &buffer[start..start + boundary];
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(value.get("type").is_some());
            decoded += 1;
            start += boundary + 1;
        }
        buffer.drain(..start);
    }
}

fn codec_in_memory(stream: &[u8]) -> usize {
    use tokio_util::codec::Decoder;
    let mut codec = net_watcher::ldj::LdjCodec::new();
    let mut buffer = tokio_util::bytes::BytesMut::with_capacity(2 * CHUNK);
    let mut decoded = 0;
    for chunk in stream.chunks(CHUNK) {
        buffer.extend_from_slice(chunk);
        while let Some(item) = codec.decode(&mut buffer).unwrap() {
            item.unwrap();
            decoded += 1;
        }
    }
    while let Some(item) = codec.decode_eof(&mut buffer).unwrap() {
        item.unwrap();
        decoded += 1;
    }
    decoded
}

fn message_stream(socket: TcpStream) -> usize {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        socket.set_nonblocking(true).unwrap();
        let socket = tokio::net::TcpStream::from_std(socket).unwrap();
        let mut messages = MessageStream::new(socket);
        let mut decoded = 0;
        while let Some(item) = messages.next().await {
            match item.unwrap() {
                Message::Changed { .. } => decoded += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        decoded
    })
}
