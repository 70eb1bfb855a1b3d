//! Times one unpack of a layer tar: `unpack_timing LAYER.tar DEST [PARALLEL_AFTER_ENTRIES]`
//! (`DEST` must not exist; `max` for one thread). Used to measure issue 17's "unpack on all cores".
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, tar, dest, rest @ ..] = args.as_slice() else {
        return Err("usage: unpack_timing LAYER.tar DEST [PARALLEL_AFTER_ENTRIES|max]".into());
    };
    let parallel_after_entries = match rest.first().map(String::as_str) {
        None => hoist_store::PARALLEL_AFTER_ENTRIES,
        Some("max") => usize::MAX,
        Some(n) => n.parse()?,
    };
    std::fs::create_dir(dest)?;
    let file = std::io::BufReader::new(std::fs::File::open(tar)?);
    let options = hoist_store::UnpackOptions {
        parallel_after_entries,
        ..Default::default()
    };
    let start = Instant::now();
    hoist_store::unpack_tar(file, dest.as_ref(), tar, options)?;
    println!("{:.3} s", start.elapsed().as_secs_f64());
    Ok(())
}
