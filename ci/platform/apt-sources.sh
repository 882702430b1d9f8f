# shellcheck shell=bash
# The Debian mirror this host's apt already uses: build-root.sh's default
# mirror. Sourced by build-root.sh and test-mirror.sh; defines functions only.
#
#   apt_source_files [ETC_APT]            the files apt reads, in apt's order
#   first_debian_archive FILE...          "URI<TAB>FILE" of the first entry
#                                         that is the Debian main archive
#   debian_mirror_from_apt [ETC_APT]      both together, for /etc/apt
#
# An entry is the Debian main archive when it is a `deb` entry (one-line
# format) or an enabled stanza with `deb` among its `Types:` (deb822 format)
# and it has:
# - the component `main`;
# - a suite that is not a security, updates or backports suite (`*-security`,
#   `*-updates`, `*-proposed-updates`, `*-backports`, the old `*/updates`);
# - an http, https, ftp or file URI (what debootstrap can fetch from) that
#   ends in `/debian`, the archive's path on Debian's mirrors, or whose
#   signed-by names debian-archive-keyring.
# Third-party repositories (their own path and keyring) and the security
# archive are thereby skipped. The URI is printed without a trailing `/`.

# /etc/apt/sources.list, then sources.list.d/*.list and *.sources sorted by
# name, as apt reads them. Missing files are left out.
apt_source_files() {
    local etc="${1:-/etc/apt}" file
    if [[ -f "$etc/sources.list" ]]; then
        printf '%s\n' "$etc/sources.list"
    fi
    for file in "$etc"/sources.list.d/*; do
        case "$file" in
            *.list | *.sources)
                if [[ -f "$file" ]]; then
                    printf '%s\n' "$file"
                fi
                ;;
        esac
    done | LC_ALL=C sort
}

# Prints "URI<TAB>FILE" for the first Debian main archive entry in FILEs
# (*.sources in deb822 format, any other name in one-line format); returns 1
# when there is none.
first_debian_archive() {
    (($# > 0)) || return 1
    local found
    found="$(awk '
        function trim(s) {
            sub(/^[ \t]+/, "", s)
            sub(/[ \t\r]+$/, "", s)
            return s
        }
        function has_word(list, word,    n, i, w) {
            n = split(list, w, /[ \t]+/)
            for (i = 1; i <= n; i++)
                if (w[i] == word) return 1
            return 0
        }
        function has_main_suite(suites,    n, i, s) {
            n = split(suites, s, /[ \t]+/)
            for (i = 1; i <= n; i++)
                if (s[i] != "" && s[i] !~ /[-\/](security|updates|backports)$/ && s[i] !~ /\/$/)
                    return 1
            return 0
        }
        function archive_uri(uri, signed_by) {
            sub(/\/+$/, "", uri)
            if (uri !~ /^(https?|ftp|file):/) return ""
            if (uri ~ /\/debian$/ || signed_by ~ /debian-archive-keyring/) return uri
            return ""
        }
        function found(uri, file) {
            print uri "\t" file
            done = 1
            exit
        }

        # One-line format: deb [ options ] uri suite [component ...]
        function one_line(line, file,    n, w, i, options, uri) {
            sub(/#.*/, "", line)
            line = trim(line)
            n = split(line, w, /[ \t]+/)
            if (n < 4 || w[1] != "deb") return
            i = 2
            options = ""
            if (w[2] ~ /^\[/) {
                for (; i <= n; i++) {
                    options = options " " w[i]
                    if (w[i] ~ /\]$/) { i++; break }
                }
            }
            if (i + 2 > n) return
            uri = archive_uri(w[i], options)
            if (uri == "" || !has_main_suite(w[i + 1])) return
            for (i += 2; i <= n; i++)
                if (w[i] == "main") found(uri, file)
        }

        # deb822 format: stanzas of "Field: value" separated by blank lines.
        function stanza_end(    n, u, i, uri) {
            if (stanza_file != "" && has_word(field["types"], "deb") &&
                tolower(field["enabled"]) != "no" &&
                has_word(field["components"], "main") && has_main_suite(field["suites"])) {
                n = split(field["uris"], u, /[ \t]+/)
                for (i = 1; i <= n; i++) {
                    uri = archive_uri(u[i], field["signed-by"])
                    if (uri != "") found(uri, stanza_file)
                }
            }
            split("", field)
            last = ""
            stanza_file = ""
        }

        FNR == 1 { stanza_end() }
        FILENAME !~ /\.sources$/ { one_line($0, FILENAME); next }
        /^#/ { next }
        /^[ \t\r]*$/ { stanza_end(); next }
        /^[ \t]/ {
            if (last != "") field[last] = field[last] " " trim($0)
            next
        }
        {
            colon = index($0, ":")
            if (colon == 0) next
            last = tolower(trim(substr($0, 1, colon - 1)))
            field[last] = trim(substr($0, colon + 1))
            stanza_file = FILENAME
        }
        END { if (!done) stanza_end() }
    ' "$@")" || return 1
    [[ -n "$found" ]] || return 1
    printf '%s\n' "$found"
}

# The first Debian main archive of the apt sources under ETC_APT (default
# /etc/apt), as "URI<TAB>FILE"; returns 1 when there is none.
debian_mirror_from_apt() {
    local files=()
    mapfile -t files < <(apt_source_files "${1:-/etc/apt}")
    first_debian_archive "${files[@]}"
}
