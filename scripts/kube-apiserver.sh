#!/usr/bin/env bash
# Builds a real kube-apiserver (v1.20.2, the newest upstream tree Debian bookworm ships with its whole
# vendor/ directory) for the test tier in test/kube, and prints the binary's path on stdout.
#
# Everything is cached outside the repository (source, GOPATH, GOCACHE, binary) under
#   ${DARKROOM_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/darkroom/kube-apiserver-1.20.2}
# so a warm machine answers in well under a second and a lost binary rebuilds from the Go cache in
# seconds. A cold build takes about five minutes of two cores; run it under the shared heavy lock.
#
# Go 1.19 (Debian's golang-1.19-go) needs four fixes on this 1.20 tree; each is described where it
# is applied. The machine's apt sources are not touched: the source package is fetched through a
# private apt configuration that has the deb-src lines.
set -euo pipefail

version=1.20.2
debian_version=1.20.5+really1.20.2-1.1+deb12u1
cache=${DARKROOM_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/darkroom/kube-apiserver-$version}
binary=$cache/bin/kube-apiserver
# Bump when the fixes below change, so a cached binary built without them is not reused.
recipe=1
stamp=$cache/bin/recipe

if [ -x "$binary" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$recipe" ]; then
  echo "$binary"
  exit 0
fi

log() { echo "kube-apiserver.sh: $*" >&2; }

# --- toolchain and store -------------------------------------------------------------------------
needed=()
[ -x /usr/lib/go-1.19/bin/go ] || needed+=(golang-1.19-go)
command -v etcd >/dev/null 2>&1 || needed+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || needed+=(etcd-client)
if [ ${#needed[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "needs the Debian packages ${needed[*]}: sudo apt-get install ${needed[*]}"
    exit 1
  fi
  log "installing ${needed[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${needed[@]}" >/dev/null
fi
go=/usr/lib/go-1.19/bin/go

# --- source package, through a private apt configuration -----------------------------------------
apt_dir=$cache/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/downloads"
cat > "$apt_dir/sources.list" <<'EOF'
deb http://deb.debian.org/debian bookworm main
deb-src http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian-security bookworm-security main
deb-src http://deb.debian.org/debian-security bookworm-security main
EOF
private_apt=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir"
  -o APT::Sandbox::User=root
)
orig=$apt_dir/downloads/kubernetes_1.20.5+really1.20.2.orig.tar.gz
reflect2_deb=$(ls "$apt_dir"/downloads/golang-github-modern-go-reflect2-dev_*.deb 2>/dev/null | head -n1 || true)
if [ ! -f "$orig" ] || [ -z "$reflect2_deb" ]; then
  log "fetching the kubernetes source package $debian_version"
  apt-get -qq "${private_apt[@]}" update
  (cd "$apt_dir/downloads" &&
    apt-get -qq "${private_apt[@]}" source --download-only "kubernetes=$debian_version" >/dev/null &&
    apt-get -qq "${private_apt[@]}" download golang-github-modern-go-reflect2-dev >/dev/null)
  reflect2_deb=$(ls "$apt_dir"/downloads/golang-github-modern-go-reflect2-dev_*.deb | head -n1)
fi

# --- unpack and fix --------------------------------------------------------------------------------
# Debian's own patches only touch kubectl's printing, so the upstream tarball is what is built.
tree=$cache/src/kubernetes-$version
if [ ! -f "$tree/.darkroom-fixed-$recipe" ]; then
  log "unpacking and fixing the tree"
  rm -rf "$cache/src"
  mkdir -p "$cache/src"
  tar -xzf "$orig" -C "$cache/src"

  # Fix 1: vendor/modules.txt. In 1.20 a replaced module's package lines follow its wildcard line
  # ("# mod => repl"), which Go 1.19 reads as a module without a version, and it then refuses to
  # build ("updates to go.mod needed, disabled by -mod=vendor"). Each package line is reattached
  # to the versioned header ("# mod version ...") whose module path is its longest prefix; the
  # wildcard lines, which carry no packages then, go first.
  perl -e '
    my (@order, %extra, %pkgs, @wild, @lines);
    my $current;
    while (<STDIN>) {
      chomp;
      if (/^# (\S+) => /) { push @wild, $_; next }
      if (/^# (\S+) (\S+)/) { $current = $1; push @order, [$1, $_]; $extra{$1} = []; $pkgs{$1} = []; next }
      if (/^## /) { push @{$extra{$current}}, $_; next }
      push @lines, $_;
    }
    my @mods = sort { length($b) <=> length($a) } map { $_->[0] } @order;
    PKG: for my $p (@lines) {
      for my $m (@mods) {
        if ($p eq $m || index($p, "$m/") == 0) { push @{$pkgs{$m}}, $p; next PKG }
      }
      die "no module for package $p\n";
    }
    print "$_\n" for @wild;
    for my $o (@order) {
      my $m = $o->[0];
      print "$o->[1]\n";
      print "$_\n" for @{$extra{$m}}, @{$pkgs{$m}};
    }
  ' < "$tree/vendor/modules.txt" > "$tree/vendor/modules.txt.fixed"
  mv "$tree/vendor/modules.txt.fixed" "$tree/vendor/modules.txt"

  # Fix 2: reflect2 v1.0.1 reads runtime internals that changed in Go 1.18 and fails at run time;
  # Debian's v1.0.2 (taken out of its .deb, not installed) replaces the vendored copy.
  extract=$cache/reflect2-deb
  rm -rf "$extract"
  dpkg-deb -x "$reflect2_deb" "$extract"
  rm -rf "$tree/vendor/github.com/modern-go/reflect2"
  cp -rL "$extract/usr/share/gocode/src/github.com/modern-go/reflect2" "$tree/vendor/github.com/modern-go/reflect2"
  find "$tree/vendor/github.com/modern-go/reflect2" \( -name '*_test.go' -o -name go.mod -o -name go.sum \) -delete
  rm -rf "$extract"

  # Fix 4: kube-openapi's type validator treats a value equal to its type's zero value as null.
  # Built with Go 1.15 that matched only nil pointers and maps; under Go >= 1.19 it also matches
  # "" (both now point at the runtime's shared zero value), so every empty string in a custom
  # resource would be refused. Both vendored copies get the check narrowed to nil references.
  for file in vendor/k8s.io/kube-openapi/pkg/validation/validate/type.go vendor/github.com/go-openapi/validate/type.go; do
    before='reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data))'
    after='func() bool { v := reflect.ValueOf(data); switch v.Kind() { case reflect.Ptr, reflect.Map, reflect.Chan, reflect.Func, reflect.UnsafePointer: return v.IsNil() }; return false }()'
    grep -qF "$before" "$tree/$file" || { log "fix 4: the zero-value check is not in $file"; exit 1; }
    BEFORE=$before AFTER=$after perl -0pi -e 's/\Q$ENV{BEFORE}\E/$ENV{AFTER}/' "$tree/$file"
  done
  touch "$tree/.darkroom-fixed-$recipe"
fi

export GOPATH=$cache/gopath GOCACHE=$cache/gocache GOFLAGS=-mod=vendor GOPROXY=off CGO_ENABLED=0 GOTOOLCHAIN=local
mkdir -p "$cache/bin" "$GOPATH/src/k8s.io"
cd "$tree"

# Fix 3: the generated OpenAPI definitions are not in the tarball (make generates them). The
# packages are found the way the tree's Makefile.generated_files finds them (staging named as its
# vendor/ path, code-generator and sample-apiserver left out), and openapi-gen runs in GOPATH
# mode with the tree linked at its import path. Its API-rule report must equal the tree's list.
openapi=pkg/generated/openapi/zz_generated.openapi.go
if [ ! -f "$openapi" ]; then
  log "generating $openapi"
  "$go" build -o "$cache/bin/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
  ln -sfn "$tree" "$GOPATH/src/k8s.io/kubernetes"
  dirs=$(find -H . -not \( \( -path './_*' -o -path './.*' -o -path ./vendor \) -prune \) -type f -name '*.go' -print0 |
    xargs -0 grep -l '^// *+k8s:' | xargs grep -l '+k8s:openapi-gen=' |
    sed 's|^\./staging/src|vendor|; s|^\./||; s|/[^/]*$||' |
    grep -v -e '^vendor/k8s.io/code-generator/' -e '^vendor/k8s.io/sample-apiserver/' |
    LC_ALL=C sort -u | sed 's|^|k8s.io/kubernetes/|' | paste -sd, -)
  report=$cache/openapi-violations.report
  (cd "$GOPATH/src/k8s.io/kubernetes" && GO111MODULE=off GOFLAGS= "$cache/bin/openapi-gen" \
    -i "$dirs" -p k8s.io/kubernetes/pkg/generated/openapi -O zz_generated.openapi \
    -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt -r "$report" >/dev/null 2>&1)
  if ! diff -q "$report" api/api-rules/violation_exceptions.list >/dev/null; then
    log "openapi-gen's API-rule report differs from api/api-rules/violation_exceptions.list"
    rm -f "$openapi"
    exit 1
  fi
fi

log "building kube-apiserver (a cold build takes about five minutes)"
ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=v$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=20 -X $pkg.gitTreeState=clean"
done
"$go" build -trimpath -ldflags "-s -w $ldflags" -o "$binary.tmp" ./cmd/kube-apiserver
mv "$binary.tmp" "$binary"
echo "$recipe" > "$stamp"
log "built $("$binary" --version)"
echo "$binary"
