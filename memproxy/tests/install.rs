//! `memproxy/install.sh`, the counterpart of the original's
//! `make install-strip`: stripped files under $DESTDIR$PREFIX, a sample
//! config only where none exists, and the prefix baked into the library.

use std::path::Path;
use std::process::Command;

const PREFIX: &str = "/opt/memproxy-install-test";

fn install(destdir: &Path) {
    let output = Command::new(test_support::workspace().join("memproxy/install.sh"))
        .env("PREFIX", PREFIX)
        .env("DESTDIR", destdir)
        .env("CARGO", env!("CARGO"))
        .output()
        .expect("install.sh runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn installs_stripped_files_and_keeps_an_existing_config() {
    let destdir = tempfile::tempdir().expect("temporary directory");
    install(destdir.path());
    let root = destdir.path().join(PREFIX.trim_start_matches('/'));
    let library = root.join("lib/libmemproxy.so");
    for path in [
        &library,
        &root.join("bin/memproxy"),
        &root.join("etc/memproxy.conf"),
    ] {
        assert!(path.is_file(), "{} missing", path.display());
    }
    let data = std::fs::read(&library).expect("library");
    let file = object::File::parse(&*data).expect("ELF");
    use object::Object;
    assert!(
        file.section_by_name(".symtab").is_none(),
        "the library is not stripped"
    );
    // install.sh builds the library together with the command; that build
    // must link it exactly as a build of the library alone does.
    // (The C runtime's weak hooks, __gmon_start__ and _ITM_*, are never
    // versioned.)
    let imports: Vec<(String, String)> = file
        .imports()
        .expect("imports")
        .iter()
        .map(|import| {
            let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
            (text(import.name()), text(import.library()))
        })
        .filter(|(name, _)| name != "__gmon_start__" && !name.starts_with("_ITM_"))
        .collect();
    assert!(
        imports.iter().any(|(name, _)| name == "abort")
            && imports.iter().all(|(_, library)| library == "libc.so.6"),
        "every import versioned against libc.so.6: {imports:?}"
    );

    // The command is linked statically, so that ld.so, and with it
    // /etc/ld.so.preload, never touches it: `memproxy disable` must run on a
    // host where the preload file breaks every dynamically linked program.
    let command = std::fs::read(root.join("bin/memproxy")).expect("command");
    let command = object::File::parse(&*command).expect("ELF");
    assert!(
        command.section_by_name(".interp").is_none()
            && command.imports().expect("imports").is_empty(),
        "bin/memproxy is dynamically linked"
    );

    let config = root.join("etc/memproxy.conf");
    std::fs::write(&config, "mine\n").expect("edit the config");
    install(destdir.path());
    assert_eq!(
        std::fs::read_to_string(&config).expect("config"),
        "mine\n",
        "install.sh overwrote a config"
    );
}

#[test]
fn the_default_config_path_is_under_the_prefix() {
    let destdir = tempfile::tempdir().expect("temporary directory");
    install(destdir.path());
    let library = destdir
        .path()
        .join(PREFIX.trim_start_matches('/'))
        .join("lib/libmemproxy.so");
    let output = Command::new("/bin/true")
        .env("LD_PRELOAD", &library)
        .env("MEMPROXY_DEBUG", "1")
        .env_remove("MEMPROXY_CONF")
        .output()
        .expect("true runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("config=\"{PREFIX}/etc/memproxy.conf\"")),
        "{stderr}"
    );
}
