# Sourced by build_lmplz.sh and slurm_local.sh: the Debian packages that are not installed yet.
missing_debian_packages() {  # PACKAGE... -> prints the missing ones, space-separated
    local package status missing=()
    for package in "$@"; do
        status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
        [[ "$status" == "install ok installed" ]] || missing+=("$package")
    done
    echo "${missing[*]}"
}
