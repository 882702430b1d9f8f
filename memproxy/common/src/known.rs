//! Allocators known by a short name (`jemalloc`, `mimalloc`, ...), with the
//! file and the Debian package that provide each on each release. The table
//! is `known-allocators.txt` beside this file, which `ci/setup` reads too,
//! so the installer and the code cannot disagree.

/// The table, as text.
pub const TABLE: &str = include_str!("known-allocators.txt");

/// One row: an allocator as a release ships it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    /// The Debian release's code name (`bookworm`, `trixie`).
    pub release: &'static str,
    /// The short name (`--allocator NAME`).
    pub name: &'static str,
    /// The shared object's file name in the multiarch directory.
    pub file: &'static str,
    /// The package that installs it.
    pub package: &'static str,
}

/// Every row, in table order.
pub fn all() -> impl Iterator<Item = Known> {
    TABLE.lines().filter_map(|line| {
        let line = line.split('#').next().unwrap_or("");
        let mut columns = line.split_whitespace();
        let row = Known {
            release: columns.next()?,
            name: columns.next()?,
            file: columns.next()?,
            package: columns.next()?,
        };
        Some(row)
    })
}

/// The rows for allocator `name`, one per release.
pub fn named(name: &str) -> impl Iterator<Item = Known> + '_ {
    all().filter(move |known| known.name == name)
}

/// The short names, each once, in table order.
pub fn names() -> impl Iterator<Item = &'static str> {
    all()
        .enumerate()
        .filter(|(index, known)| all().take(*index).all(|earlier| earlier.name != known.name))
        .map(|(_, known)| known.name)
}

/// The files `name` is installed as, each once (newer releases may rename
/// it: `libmimalloc.so.2`, then `libmimalloc.so.3`).
pub fn files(name: &str) -> impl Iterator<Item = &'static str> + '_ {
    let rows = named(name);
    rows.enumerate()
        .filter(move |(index, row)| {
            named(name)
                .take(*index)
                .all(|earlier| earlier.file != row.file)
        })
        .map(|(_, row)| row.file)
}

/// The package that installs `name` on `release`; the first release's when
/// `release` is unknown or not in the table.
pub fn package(name: &str, release: Option<&str>) -> Option<&'static str> {
    named(name)
        .find(|row| Some(row.release) == release)
        .or_else(|| named(name).next())
        .map(|row| row.package)
}

/// The release a host runs, from the text of its `/etc/os-release`.
pub fn release_of_os_release(text: &str) -> Option<&'static str> {
    let version = text
        .lines()
        .find_map(|line| line.strip_prefix("VERSION_ID="))?;
    release_of_version(version.trim_matches('"'))
}

/// Debian's code name for a `VERSION_ID` (`12` is bookworm, `13` trixie).
pub fn release_of_version(version_id: &str) -> Option<&'static str> {
    match version_id.split('.').next()? {
        "12" => Some("bookworm"),
        "13" => Some("trixie"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_has_four_columns() {
        let rows = TABLE
            .lines()
            .filter(|line| !line.trim_start().starts_with('#') && !line.trim().is_empty())
            .count();
        assert_eq!(all().count(), rows);
    }

    #[test]
    fn every_name_is_known_on_every_release() {
        for name in names() {
            for release in ["bookworm", "trixie"] {
                assert_eq!(
                    named(name).filter(|known| known.release == release).count(),
                    1,
                    "{name} on {release}"
                );
            }
        }
        assert_eq!(names().count(), 5);
    }

    #[test]
    fn files_and_packages_across_releases() {
        let mut files = files("mimalloc");
        assert_eq!(files.next(), Some("libmimalloc.so.2"));
        assert_eq!(files.next(), Some("libmimalloc.so.3"));
        assert_eq!(files.next(), None);
        assert_eq!(
            package("tcmalloc", Some("trixie")),
            Some("libtcmalloc-minimal4t64")
        );
        assert_eq!(package("tcmalloc", None), Some("libtcmalloc-minimal4"));
        assert_eq!(
            release_of_os_release("NAME=\"Debian\"\nVERSION_ID=\"13\"\n"),
            Some("trixie")
        );
    }

    #[test]
    fn mimalloc_moved_to_version_3_in_trixie() {
        let trixie = named("mimalloc")
            .find(|known| known.release == "trixie")
            .unwrap();
        assert_eq!(trixie.file, "libmimalloc.so.3");
        assert_eq!(trixie.package, "libmimalloc3");
    }
}
