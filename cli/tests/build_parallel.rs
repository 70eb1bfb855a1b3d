//! Scheduling: independent stages run at the same time; `--jobs N` bounds how many steps run at once.
//! No timings: the stages meet (or must never meet) in a shared cache mount.
mod common;

use common::Hoist;

/// Four stages whose RUN steps only finish when all four are running at once: each leaves a marker in a shared
/// cache mount and waits (up to 30 s, then fails) for the other three.
fn rendezvous(stages: usize) -> String {
    let mut text = String::new();
    for i in 0..stages {
        text.push_str(&format!(
            "FROM busybox AS s{i}\n\
             RUN --mount=type=cache,id=meet,target=/meet,sharing=shared \
             touch /meet/{i} && n=0; \
             while [ \"$(ls /meet | wc -l)\" -lt {stages} ]; do \
             n=$((n+1)); [ $n -gt 300 ] && echo only $(ls /meet) met && exit 7; sleep 0.1; done; \
             echo {i} > /out{i}\n"
        ));
    }
    text.push_str("FROM busybox\n");
    for i in 0..stages {
        text.push_str(&format!("COPY --from=s{i} /out{i} /out{i}\n"));
    }
    text
}

#[test]
fn independent_stages_run_at_the_same_time() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.build_ok("par:meet", &rendezvous(4), &[], &[]);
    assert_eq!(
        h.sh("par:meet", "cat /out0 /out1 /out2 /out3"),
        "0\n1\n2\n3\n"
    );
    assert!(h.leftover_mounts().is_empty(), "{:?}", h.leftover_mounts());
}

#[test]
fn jobs_bounds_the_steps_that_run_at_once() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    // Each step holds a lock directory for a moment: with --jobs 1 no two ever overlap.
    let mut text = String::new();
    for i in 0..3 {
        text.push_str(&format!(
            "FROM busybox AS s{i}\n\
             RUN --mount=type=cache,id=lock,target=/lock,sharing=shared \
             mkdir /lock/held || exit 9; sleep 0.3; rmdir /lock/held; echo {i} > /out{i}\n"
        ));
    }
    text.push_str("FROM busybox\n");
    for i in 0..3 {
        text.push_str(&format!("COPY --from=s{i} /out{i} /out{i}\n"));
    }
    h.build_ok("par:one", &text, &[], &["--jobs", "1"]);
    assert_eq!(h.sh("par:one", "cat /out0 /out1 /out2"), "0\n1\n2\n");
}
