//! `memproxy/install.sh`, the counterpart of the original's
//! `make install-strip`: stripped files under $DESTDIR$PREFIX, each
//! architecture's library where ld.so's `$LIB` finds it, a sample config
//! only where none exists, and the prefix baked into the library.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use memproxy_common::multiarch::TUPLE;
use object::{Object, ObjectSection, ObjectSymbol};
use test_support::foreign_elf::{self, Abi};

const PREFIX: &str = "/opt/memproxy-install-test";
const CONFIG: &str = "/opt/memproxy-install-test/etc/memproxy.conf";

fn run_install(destdir: &Path, args: &[&Path]) -> Output {
    let mut command = Command::new(test_support::workspace().join("memproxy/install.sh"));
    for library in args {
        command.arg("--with-library").arg(library);
    }
    command
        .env("PREFIX", PREFIX)
        .env("DESTDIR", destdir)
        .env("CARGO", env!("CARGO"))
        .output()
        .expect("install.sh runs")
}

fn install(destdir: &Path) {
    install_with(destdir, &[]);
}

fn install_with(destdir: &Path, libraries: &[&Path]) {
    let output = run_install(destdir, libraries);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `$DESTDIR$PREFIX`.
fn root(destdir: &Path) -> PathBuf {
    destdir.join(PREFIX.trim_start_matches('/'))
}

/// `bytes` with the NUL a C string ends with.
fn c_string(text: &str) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    bytes.push(0);
    bytes
}

/// An i386 (or x32) shared object that passes for a libmemproxy.so built
/// with the config path `config`, as far as install.sh can tell.
fn foreign_memproxy(dir: &Path, name: &str, abi: Abi, config: &str) -> PathBuf {
    foreign_elf::shared_object(
        dir,
        name,
        abi,
        &[
            (memproxy_common::MARKER, b"0.1.0\0"),
            (memproxy_common::CONFIG_SYMBOL, &c_string(config)),
        ],
    )
}

#[test]
fn installs_stripped_files_and_keeps_an_existing_config() {
    let destdir = tempfile::tempdir().expect("temporary directory");
    install(destdir.path());
    let root = root(destdir.path());
    let library = root.join(format!("lib/{TUPLE}/libmemproxy.so"));
    // The old path stays valid: a relative symlink, right under any DESTDIR.
    assert_eq!(
        std::fs::read_link(root.join("lib/libmemproxy.so")).expect("lib/libmemproxy.so is a link"),
        Path::new(TUPLE).join("libmemproxy.so")
    );
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
fn the_library_reads_the_prefix_config_through_the_lib_token_and_the_old_path() {
    let destdir = tempfile::tempdir().expect("temporary directory");
    install(destdir.path());
    let root = root(destdir.path());
    // ld.so expands $LIB itself: the entry is passed as written.
    let through_lib_token = format!("{}/$LIB/libmemproxy.so", root.display());
    let old_path = root.join("lib/libmemproxy.so").display().to_string();
    for entry in [through_lib_token, old_path] {
        let output = Command::new("/bin/true")
            .env("LD_PRELOAD", &entry)
            .env("MEMPROXY_DEBUG", "1")
            .env_remove("MEMPROXY_CONF")
            .output()
            .expect("true runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("config=\"{CONFIG}\"")) && !stderr.contains("ld.so"),
            "LD_PRELOAD={entry}: {stderr}"
        );
    }
}

#[test]
fn another_architectures_library_goes_to_its_multiarch_directory() {
    let scratch = tempfile::tempdir().expect("temporary directory");
    let i386 = foreign_memproxy(scratch.path(), "libmemproxy.so", Abi::I386, CONFIG);
    let destdir = tempfile::tempdir().expect("temporary directory");
    install_with(destdir.path(), &[&i386]);

    let root = root(destdir.path());
    let installed = std::fs::read(root.join("lib/i386-linux-gnu/libmemproxy.so"))
        .expect("the i386 library is installed under lib/i386-linux-gnu");
    let file = object::File::parse(&*installed).expect("ELF");
    assert_eq!(
        (file.architecture(), file.is_64()),
        (object::Architecture::I386, false)
    );
    let config = file
        .dynamic_symbols()
        .find(|symbol| symbol.name() == Ok(memproxy_common::CONFIG_SYMBOL))
        .expect("the installed file is the one given");
    let section = file
        .section_by_index(config.section_index().expect("defined"))
        .expect("its section");
    let offset = (config.address() - section.address()) as usize;
    assert_eq!(
        &section.data().expect("data")[offset..offset + config.size() as usize],
        c_string(CONFIG).as_slice()
    );
    // The host's library is still there, and lib/libmemproxy.so still names
    // the host's.
    assert!(root.join(format!("lib/{TUPLE}/libmemproxy.so")).is_file());
    assert_eq!(
        std::fs::read_link(root.join("lib/libmemproxy.so")).expect("a link"),
        Path::new(TUPLE).join("libmemproxy.so")
    );
}

#[test]
fn libraries_it_cannot_place_are_refused_before_anything_is_installed() {
    let scratch = tempfile::tempdir().expect("temporary directory");
    let dir = scratch.path();
    let not_memproxy = foreign_elf::shared_object(
        dir,
        "libother.so",
        Abi::I386,
        &[(memproxy_common::CONFIG_SYMBOL, &c_string(CONFIG))],
    );
    let unknown_arch = foreign_memproxy(dir, "x32.so", Abi::X32, CONFIG);
    let other_prefix = foreign_memproxy(
        dir,
        "usr-local.so",
        Abi::I386,
        "/usr/local/etc/memproxy.conf",
    );
    let i386 = foreign_memproxy(dir, "i386.so", Abi::I386, CONFIG);
    let i386_again = foreign_memproxy(dir, "i386-again.so", Abi::I386, CONFIG);
    let missing = dir.join("missing.so");
    let cases: [(&[&Path], &str); 5] = [
        (
            &[&not_memproxy],
            "is not a libmemproxy.so: it does not export memproxy_version",
        ),
        (
            &[&unknown_arch],
            "is built for an architecture memproxy does not know (ELF machine 62, 32-bit",
        ),
        (
            &[&other_prefix],
            "reads its config from /usr/local/etc/memproxy.conf, but this installation's is \
             /opt/memproxy-install-test/etc/memproxy.conf: rebuild it with \
             MEMPROXY_PREFIX=/opt/memproxy-install-test",
        ),
        (&[&i386, &i386_again], "are both for lib/i386-linux-gnu"),
        (&[&missing], "--with-library"),
    ];
    for (libraries, expected) in cases {
        let destdir = tempfile::tempdir().expect("temporary directory");
        let output = run_install(destdir.path(), libraries);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && stderr.contains(expected),
            "{libraries:?}: expected a refusal with\n  {expected}\ngot {:?}:\n{stderr}",
            output.status
        );
        assert!(
            !root(destdir.path()).exists(),
            "{libraries:?}: install.sh installed something before refusing"
        );
    }
}
