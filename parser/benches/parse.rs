//! Parse speed: a generated 5,000-line Dockerfile (a mix of every common instruction form,
//! continuations and heredocs), parsed repeatedly; prints one table line.
//! Run with `cargo bench -p hoist-parser --bench parse`.

use std::time::{Duration, Instant};

fn generate(lines: usize) -> String {
    let mut out = String::from("# syntax=docker/dockerfile:1\nARG BASE=debian:bookworm\n");
    let mut stage = 0;
    while out.lines().count() < lines {
        out.push_str(&format!(
            "FROM --platform=$BUILDPLATFORM ${{BASE}} AS stage{stage}\n"
        ));
        out.push_str("ENV PATH=/usr/local/bin:$PATH LANG=C.UTF-8 \\\n    HOME=/root\n");
        out.push_str("LABEL org.opencontainers.image.title=\"hoist bench\" version=1\n");
        out.push_str("RUN --mount=type=cache,target=/var/cache/apt apt-get update \\\n");
        out.push_str("    # a comment inside the continuation\n");
        out.push_str("    && apt-get install -y --no-install-recommends curl ca-certificates \\\n");
        out.push_str("    && rm -rf /var/lib/apt/lists/*\n");
        out.push_str("COPY --from=stage0 --chown=1000:1000 --link src/ /app/src/\n");
        out.push_str("COPY <<EOF /etc/app.conf\nkey=value\nother=${HOME}\nEOF\n");
        out.push_str("RUN <<-SCRIPT\n\tset -e\n\techo building\nSCRIPT\n");
        out.push_str("WORKDIR /app\nUSER 1000:1000\nEXPOSE 8080/tcp 8443\n");
        out.push_str("HEALTHCHECK --interval=30s --timeout=3s CMD [\"curl\", \"-f\", \"http://localhost/\"]\n");
        out.push_str("ONBUILD RUN echo triggered\n");
        out.push_str(
            "ENTRYPOINT [\"/app/bin/server\", \"--port\", \"8080\"]\nCMD [\"--help\"]\n\n",
        );
        stage += 1;
    }
    out
}

fn main() {
    let text = generate(5_000);
    let line_count = text.lines().count();
    // Warm up, and make sure the input is valid.
    let parsed = hoist_parser::parse(&text).expect("generated Dockerfile parses");
    let instructions: usize = parsed.stages.iter().map(|s| s.instructions.len() + 1).sum();

    let runs = 50;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let result = hoist_parser::parse(std::hint::black_box(&text));
        times.push(start.elapsed());
        std::hint::black_box(result.ok());
    }
    times.sort();
    let median = times[runs / 2];
    let best = times[0];
    let per_line = median.as_nanos() as f64 / line_count as f64;
    let mb_per_s = text.len() as f64 / median.as_secs_f64() / 1e6;
    println!(
        "parse | {line_count} lines, {instructions} instructions, {} KB | median {:.2} ms | best {:.2} ms | {per_line:.0} ns/line | {mb_per_s:.1} MB/s | {runs} runs",
        text.len() / 1024,
        ms(median),
        ms(best),
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
