#!/usr/bin/env bash
# make install PREFIX=/usr/local into a temporary DESTDIR: exactly the files it should
# put there (the soname chain, attsr.pc naming the installed prefix, the models);
# examples/upscale.c built with nothing but `pkg-config --cflags --libs attsr` against
# it runs on the installed libattsr.so; make uninstall leaves no file behind. Installed
# at a PREFIX with no DESTDIR, `attsr upscale` and `eval` (no -m, no $ATTSR_MODELS, from
# another folder) and the example find PREFIX/share/attsr/models, compiled in.
source "$(dirname "$0")/lib_cli.sh"
B=${ATTSR_BUILD:-$PWD/build}
B=${B#"$PWD"/}
for c in make pkg-config cc; do
    command -v $c >/dev/null || { t_skip install "$c not found"; exit 0; }
done
mpi=0
"$ATTSR" train --help | grep -q "with MPI\." && mpi=1
MK=(make -s --no-print-directory BUILD="$B" MPI=$mpi PREFIX=/usr/local)
# never rebuild the build under test: install only one made with make's flags (a
# sanitizer build's OPT and SAN are not known here)
if ! "${MK[@]}" -q "$B/attsr" "$B/libattsr.a" "$B/libattsr.so" >/dev/null 2>&1; then
    t_skip install "$B is not what make BUILD=$B MPI=$mpi makes (another OPT or SAN?); not rebuilding it"
    exit 0
fi
V=$(sed -n 's/^#define ATTSR_VERSION "\(.*\)"$/\1/p' include/attsr.h)
MAJ=${V%%.*}
# the soname's version: the major number, and before 1.0 the minor too (the Makefile's SOVER)
if [ "$MAJ" = 0 ]; then SOV=$(cut -d. -f1,2 <<<"$V"); else SOV=$MAJ; fi
D=$T/dest L=$T/dest/usr/local

"${MK[@]}" install DESTDIR="$D" >"$T/install.out" 2>&1 || { t_fail install "$(tail -3 "$T/install.out")"; exit 0; }
want="./usr/local/bin/attsr ./usr/local/include/attsr.h ./usr/local/lib/libattsr.a ./usr/local/lib/libattsr.so
./usr/local/lib/libattsr.so.$SOV ./usr/local/lib/libattsr.so.$V ./usr/local/lib/pkgconfig/attsr.pc
$(for m in models/attsr_x*.safetensors; do echo "./usr/local/share/attsr/models/${m#models/}"; done)"
got=$(cd "$D" && find . \( -type f -o -type l \) | sort | tr '\n' ' ')
same_models=1
for m in models/attsr_x*.safetensors; do cmp -s "$m" "$L/share/attsr/models/${m#models/}" || same_models=0; done
if [ "$got" = "$(tr ' ' '\n' <<<"$want" | grep . | sort | tr '\n' ' ')" ] && [ $same_models = 1 ] &&
   [ -x "$L/bin/attsr" ] && cmp -s include/attsr.h "$L/include/attsr.h"; then t_pass installed_files
else t_fail installed_files "got: $got"; fi
soname=$(command -v readelf >/dev/null && readelf -d "$L/lib/libattsr.so.$V" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
if [ "$(readlink "$L/lib/libattsr.so")" = "libattsr.so.$SOV" ] && [ "$(readlink "$L/lib/libattsr.so.$SOV")" = "libattsr.so.$V" ] &&
   { ! command -v readelf >/dev/null || [ "$soname" = "libattsr.so.$SOV" ]; }; then t_pass "soname_chain (libattsr.so.$SOV -> $V)"
else t_fail soname_chain "links $(readlink "$L/lib/libattsr.so") $(readlink "$L/lib/libattsr.so.$SOV"), soname '$soname'"; fi
# the library exports its API and nothing else: the functions attsr.h declares
if command -v nm >/dev/null; then
    exported=$(nm -D --defined-only "$L/lib/libattsr.so.$V" | awk '{ print $NF }' | sort | tr '\n' ' ')
    declared=$(sed -n 's/^ATTSR_API [^(]*[ *]\(attsr_[a-z_]*\)(.*/\1/p' include/attsr.h | sort | tr '\n' ' ')
    [ -n "$declared" ] && [ "$exported" = "$declared" ] && t_pass "exports_api_only ($(wc -w <<<"$exported") symbols)" ||
        t_fail exports_api_only "exported: $(head -c 300 <<<"$exported"); declared: $declared"
else
    t_skip exports_api_only "nm not found"
fi
pc=$L/lib/pkgconfig/attsr.pc
grep -qx 'prefix=/usr/local' "$pc" && grep -qx 'libdir=/usr/local/lib' "$pc" && grep -qx 'includedir=/usr/local/include' "$pc" &&
    grep -qx "Version: $V" "$pc" && t_pass pc_names_prefix || t_fail pc_names_prefix "$(head -3 "$pc" | tr '\n' ' ')"

# the example, built as a user would against the installed library (the DESTDIR as sysroot)
flags=$(PKG_CONFIG_LIBDIR=$L/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D pkg-config --cflags --libs attsr)
ex=$T/bin/upscale_ex
mkdir -p "$T/bin" "$T/away"
# shellcheck disable=SC2086  # flags are words
if cc -o "$ex" examples/upscale.c $flags 2>"$T/cc.err"; then
    out=$(LD_LIBRARY_PATH=$L/lib "$ex" "$L/share/attsr/models/attsr_x2.safetensors" 20 10 2>&1)
    ref=$("$B/examples/upscale" models/attsr_x2.safetensors 20 10 2>&1)
    lib=$(LD_LIBRARY_PATH=$L/lib ldd "$ex" 2>/dev/null | grep -o "[^ ]*/libattsr.so[^ ]*")
    if [[ "$out" == "20x10 -> 40x20, mean "* ]] && [ "$out" = "$ref" ] && [ "$lib" = "$L/lib/libattsr.so.$SOV" ]; then
        t_pass pkg_config_example
    else t_fail pkg_config_example "'$out' vs '$ref', linked to '$lib'"; fi
else
    t_fail pkg_config_example "cc examples/upscale.c $flags: $(head -3 "$T/cc.err")"
fi

# the compiled-in model folder: a copy of the build installed with PREFIX=$T/prefix and
# no DESTDIR (the copy rebuilds attsr.o only; the build under test is untouched), run
# from another folder with no $ATTSR_MODELS and no models/ above the programs
P=$T/prefix
cp -a "$B" "$T/b"
if make -s --no-print-directory BUILD="$T/b" MPI=$mpi PREFIX="$P" install >"$T/install2.out" 2>&1; then
    mkdir -p "$T/hr"
    "$ATTSR" degrade --scale 4 -i samples/zebra.png -o "$T/hr/zebra.png" >/dev/null 2>&1
    "$ATTSR" upscale -m models/attsr_x2.safetensors -i "$T/hr/zebra.png" -o "$T/ref.png" 2>/dev/null
    (cd "$T/away" && env -u ATTSR_MODELS "$P/bin/attsr" upscale -i "$T/hr/zebra.png" -o out.png 2>"$T/up.err")
    model=$(cd "$T/away" && env -u ATTSR_MODELS "$P/bin/attsr" eval --json "$T/hr" 2>/dev/null |
            grep -o '"model": "[^"]*"' | sed 's/"model": "//; s/"$//')
    if cmp -s "$T/away/out.png" "$T/ref.png" && [ "$model" -ef "$P/share/attsr/models/attsr_x2.safetensors" ]; then
        t_pass installed_attsr_finds_models
    else t_fail installed_attsr_finds_models "model '$model': $(tail -1 "$T/up.err")"; fi
    # the example built above, now on this install's libattsr.so.SOV
    out=$(cd "$T/away" && env -u ATTSR_MODELS LD_LIBRARY_PATH="$P/lib" "$ex" x3 20 10 2>&1)
    [[ "$out" == *"bundled model $(cd "$P" && pwd -P)/share/attsr/models/attsr_x3.safetensors"*"20x10 -> 60x30, mean "* ]] &&
        t_pass installed_library_finds_models || t_fail installed_library_finds_models "$out"
else
    t_fail installed_at_prefix "$(tail -3 "$T/install2.out")"
fi

"${MK[@]}" uninstall DESTDIR="$D" >"$T/uninstall.out" 2>&1
left=$(cd "$D" && find . \( -type f -o -type l \) | tr '\n' ' ')
[ -z "$left" ] && [ ! -e "$L/share/attsr" ] && t_pass uninstall_removes_all || t_fail uninstall_removes_all "left: $left"
exit 0
