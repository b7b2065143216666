#!/usr/bin/env python3
"""Model-based test of an artifs HEAD against a plain reference folder.

`model.py run` applies one seeded random sequence of file-system operations to an artifs
HEAD (an artifact folder) and to a plain folder on a local file system (the reference, the
"model"), compares errno and results of every operation, compares the two trees every
--check-every operations, and commits the draft now and then (setxattr user.artifs.commit on
the artifact folder, or fsync() of an fd on it). After each commit the new version (found
through @latest) must equal the HEAD as it was just before the commit, which must equal the
reference. Every version's tree is kept as a snapshot (an in-memory dict, written to
--snapshots at the end) so that `model.py verify` can check every version again after a
remount or `artifs rebuild`.

Standard library only. Exit status 0: all equal; 1: a mismatch (the seed, the last
operations and a short diff are printed); 2: bad usage.

Comparison rules (from DESIGN.md, docs/guide.md, docs/manifest.md, docs/errors.md):
  - the same set of paths (top-level names starting with '@' in a HEAD are artifs' own:
    @latest, @vN, tags; none are generated), the same type (file, dir, symlink);
  - permission bits st_mode & 07777 equal, except that a version's root folder keeps only its
    owner's write bit (docs/guide.md: so that the owner may label it; writes answer EROFS):
    its mode must be the HEAD root's & ~0022.
    Everything inside a version keeps its mode exactly (docs/guide.md "Modes");
  - files: size and SHA-256 of the bytes; symlinks: target and st_size;
  - user.* xattrs, every name and value; user.artifs.* is ignored everywhere (computed
    names on versions and the HEAD), user.label.* and user.metric.* on the root only
    (the generator never makes names with those prefixes);
  - mtimes (nanoseconds; the manifest keeps them): HEAD versus reference only where the
    test set the time itself with utime and nothing since could have changed it (the two
    trees are written at different moments); a version versus the HEAD just before and
    just after its commit, the HEAD before versus after a commit, and a version (and the
    last HEAD) after remount or rebuild versus its snapshot: every entry but the root (the
    @vN folder and the artifact folder are artifs' own);
  - no version for a commit that changes nothing but times ("Times alone do not" count as
    a change, docs/guide.md), else exactly one, @v(N+1), and @latest pointing at it;
  - errno equal (for rename and rmdir EEXIST and ENOTEMPTY count as one: POSIX allows
    either for a non-empty folder), and results equal (bytes written and read, sizes,
    offsets after O_APPEND writes, lstat type, mode and size);
  - atime, ctime, owners, link counts, st_blocks and folder sizes are not compared.
Not generated: hard links, FIFOs, devices, sockets (refused with EPERM, docs/errors.md),
renames out of the artifact (EXDEV), '@' names at the top level, setuid/setgid/sticky bits
(the reference would apply setgid inheritance of folders, which is no part of the
contract), xattr names that are not UTF-8, and operations through a symlink (a relative
target may leave the artifact, where the two trees differ).
"""
import argparse
import collections
import errno
import hashlib
import json
import os
import random
import stat
import sys
import time

ALPHABET = ['-', '.', '0', '_', '~', 'a', 'A', 'é']  # bytes both sides of '/' (0x2f)
POOL = ['model', 'model.pkl', 'data', 'data-1', 'x', 'x.py', 'x-1.0.egg-info', 'a', 'a.b']
IGNORE_XATTR = ('user.artifs.',)
IGNORE_ROOT_XATTR = ('user.artifs.', 'user.label.', 'user.metric.')
MAX_DEPTH = 3          # folders up to this depth
MAX_HELD = 3           # fds kept open across operations
MAX_XATTR_BYTES = 3000  # per entry; ext4 keeps one inode's xattrs in one 4 KiB block
TRACE = os.environ.get('MODEL_TRACE')


class Mismatch(Exception):
    pass


def ename(e):
    return 'ok' if e is None else errno.errorcode.get(e, str(e))


def same_errno(op, a, b):
    """POSIX lets a rename onto, or rmdir of, a non-empty folder answer either."""
    if op[0] in ('rename', 'rmdir'):
        a, b = (errno.ENOTEMPTY if e == errno.EEXIST else e for e in (a, b))
    return a == b


# ---------------------------------------------------------------------------- tree scans

def hx(b):
    return b.hex()


def scan(root, skip_at_top=True, read_xattrs=True):
    """The tree under root as {relpath: entry}; relpath '' is the root. An entry holds t
    ('f', 'd', 'l'), mode (& 07777), size (files, links), sha (files), target (links),
    x ({name: hex value}), mtime (ns), ino; and 'bad' notes (readdir type != lstat type)."""
    out = {}

    def entry(rel, path, dtype=None):
        st = os.lstat(path)
        e = {'mode': stat.S_IMODE(st.st_mode), 'mtime': st.st_mtime_ns, 'ino': st.st_ino}
        if stat.S_ISDIR(st.st_mode):
            e['t'] = 'd'
        elif stat.S_ISREG(st.st_mode):
            e['t'] = 'f'
            e['size'] = st.st_size
            h = hashlib.sha256()
            n = 0
            with open(path, 'rb') as f:
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        break
                    n += len(b)
                    h.update(b)
            e['sha'] = h.hexdigest()
            if n != st.st_size:
                e.setdefault('bad', []).append(f'read {n} bytes, st_size {st.st_size}')
        elif stat.S_ISLNK(st.st_mode):
            e['t'] = 'l'
            e['target'] = os.readlink(path)
            e['size'] = st.st_size
        else:
            e['t'] = '?%o' % stat.S_IFMT(st.st_mode)
        if dtype is not None and dtype != e['t']:
            e.setdefault('bad', []).append(f'readdir type {dtype}, lstat type {e["t"]}')
        if read_xattrs:
            ign = IGNORE_ROOT_XATTR if rel == '' else IGNORE_XATTR
            x = {}
            try:
                names = os.listxattr(path, follow_symlinks=False)
            except OSError as ex:
                names = []
                if e['t'] != 'l':
                    x['!listxattr'] = ename(ex.errno)
            for n in names:
                if not n.startswith('user.') or n.startswith(ign):
                    continue
                try:
                    x[n] = hx(os.getxattr(path, n, follow_symlinks=False))
                except OSError as ex:
                    x[n] = '!' + ename(ex.errno)
            e['x'] = x
        out[rel] = e
        return e

    def walk(rel, path):
        with os.scandir(path) as it:
            ents = sorted(it, key=lambda d: d.name)
        for d in ents:
            if skip_at_top and rel == '' and d.name.startswith('@'):
                continue
            r = d.name if rel == '' else rel + '/' + d.name
            if d.is_symlink():
                dt = 'l'
            elif d.is_dir(follow_symlinks=False):
                dt = 'd'
            elif d.is_file(follow_symlinks=False):
                dt = 'f'
            else:
                dt = '?'
            e = entry(r, d.path, dt)
            if e['t'] == 'd':
                walk(r, d.path)

    entry('', root)
    walk('', root)
    return out


CONTENT_KEYS = ('t', 'mode', 'size', 'sha', 'target', 'x')


def content(tree):
    """What counts as a change: everything but times and inode numbers."""
    return {p: tuple((k, json.dumps(e.get(k), sort_keys=True)) for k in CONTENT_KEYS)
            for p, e in tree.items()}


def fmt(e):
    if e is None:
        return 'absent'
    d = {k: v for k, v in e.items() if k not in ('ino',)}
    if 'x' in d:
        d['x'] = {n: (v if len(v) <= 40 else v[:40] + '…(%d hex)' % len(v)) for n, v in d['x'].items()}
    if 'mode' in d:
        d['mode'] = oct(d['mode'])
    return json.dumps(d, sort_keys=True, ensure_ascii=False)


def compare(want, got, mtime, root_rule='same', live=None, limit=12):
    """Differences of got from want. mtime: 'none', 'all' (every entry but the root) or a
    set of paths. root_rule 'version': got's root mode must be want's & ~0222. live:
    (want_root, got_root) folders to find the first differing byte of a file."""
    diffs = []
    for p in sorted(set(want) | set(got)):
        a, b = want.get(p), got.get(p)
        show = p or '<root>'
        if b and b.get('bad'):
            diffs.append(f'{show}: {"; ".join(b["bad"])}')
        if a is None or b is None:
            diffs.append(f'{show}: want {fmt(a)}, got {fmt(b)}')
            continue
        if a['t'] != b['t']:
            diffs.append(f'{show}: type want {a["t"]}, got {b["t"]}')
            continue
        wm = a['mode'] & ~0o022 if (p == '' and root_rule == 'version') else a['mode']
        if wm != b['mode']:
            diffs.append(f'{show}: mode want {oct(wm)}, got {oct(b["mode"])}')
        for k in ('size', 'target'):
            if a.get(k) != b.get(k):
                diffs.append(f'{show}: {k} want {a.get(k)!r}, got {b.get(k)!r}')
        if a.get('sha') != b.get('sha'):
            msg = f'{show}: bytes differ (sha256 want {a.get("sha", "")[:12]}, got {b.get("sha", "")[:12]})'
            if live:
                msg += first_diff(os.path.join(live[0], p), os.path.join(live[1], p))
            diffs.append(msg)
        if a.get('x') != b.get('x'):
            ax, bx = a.get('x') or {}, b.get('x') or {}
            for n in sorted(set(ax) | set(bx)):
                if ax.get(n) != bx.get(n):
                    diffs.append(f'{show}: xattr {n} want {short(ax.get(n))}, got {short(bx.get(n))}')
        if p != '' and (mtime == 'all' or (isinstance(mtime, set) and p in mtime)):
            if a['mtime'] != b['mtime']:
                diffs.append(f'{show}: mtime want {a["mtime"]}, got {b["mtime"]}')
        if len(diffs) >= limit:
            diffs.append('…')
            break
    return diffs


def short(v):
    if v is None:
        return 'absent'
    return v if len(v) <= 48 else f'{v[:48]}…({len(v) // 2} bytes)'


def first_diff(pa, pb):
    try:
        with open(pa, 'rb') as fa, open(pb, 'rb') as fb:
            a, b = fa.read(), fb.read()
    except OSError as e:
        return f' (cannot read: {e})'
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return (f' sizes {len(a)}/{len(b)}, first difference at byte {i}: '
                    f'want {a[i:i + 8].hex()} got {b[i:i + 8].hex()}')
    return f' sizes {len(a)}/{len(b)}, equal over the first {n} bytes'


# ---------------------------------------------------------------------------- operations

FLAGNAMES = [(os.O_WRONLY, 'O_WRONLY'), (os.O_RDWR, 'O_RDWR'), (os.O_CREAT, 'O_CREAT'),
             (os.O_EXCL, 'O_EXCL'), (os.O_TRUNC, 'O_TRUNC'), (os.O_APPEND, 'O_APPEND')]


def flagstr(f):
    s = [n for v, n in FLAGNAMES if f & v]
    return '|'.join(s) or 'O_RDONLY'


def datastr(d):
    return f'<{len(d)} bytes {hashlib.sha256(d).hexdigest()[:8]}>'


def rstr(x):
    """A result for the log: long byte strings as their length and hash."""
    if isinstance(x, bytes):
        return datastr(x) if len(x) > 16 else repr(x)
    if isinstance(x, tuple):
        return '(' + ', '.join(rstr(y) for y in x) + ')'
    return repr(x)


FLAGPOS = {'create': 2, 'pwrite': 2, 'append': 2, 'reopen': 2, 'hold': 3, 'fallocate': 2}
MODEPOS = {'create': 3, 'mkdir': 2, 'chmod': 2, 'hold': 4}


def opstr(op):
    k = op[0]
    parts = []
    for i, a in enumerate(op[1:], 1):
        if isinstance(a, bytes):
            parts.append(datastr(a) if len(a) > 16 else repr(a))
        elif FLAGPOS.get(k) == i:
            parts.append(flagstr(a))
        elif MODEPOS.get(k) == i:
            parts.append(oct(a))
        elif k == 'setxattr' and i == 4:
            parts.append({0: '0', os.XATTR_CREATE: 'XATTR_CREATE', os.XATTR_REPLACE: 'XATTR_REPLACE'}[a])
        else:
            parts.append(repr(a))
    return f'{k}({", ".join(parts)})'


class Side:
    """One tree: the reference or the HEAD, with its held fds."""

    def __init__(self, root):
        self.root = root
        self.fds = {}

    def p(self, rel):
        return os.path.join(self.root, rel) if rel else self.root

    def apply(self, op):
        """Runs op; returns (errno or None, result)."""
        try:
            return None, self._apply(op)
        except OSError as e:
            return e.errno, None

    def _apply(self, op):
        k, a = op[0], op[1:]
        if k == 'create':
            rel, flags, mode, data = a
            fd = os.open(self.p(rel), flags, mode)
            try:
                return os.write(fd, data) if data else 0
            finally:
                os.close(fd)
        if k == 'pwrite':
            rel, flags, off, data = a
            fd = os.open(self.p(rel), flags)
            try:
                return os.pwrite(fd, data, off)
            finally:
                os.close(fd)
        if k == 'append':
            rel, flags, data = a
            fd = os.open(self.p(rel), flags)
            try:
                n = os.write(fd, data)
                return n, os.lseek(fd, 0, os.SEEK_CUR), os.fstat(fd).st_size
            finally:
                os.close(fd)
        if k == 'reopen':
            rel, flags = a
            fd = os.open(self.p(rel), flags)
            try:
                return os.fstat(fd).st_size
            finally:
                os.close(fd)
        if k == 'truncate':
            return os.truncate(self.p(a[0]), a[1])
        if k == 'rename':
            return os.rename(self.p(a[0]), self.p(a[1]))
        if k == 'unlink':
            return os.unlink(self.p(a[0]))
        if k == 'mkdir':
            return os.mkdir(self.p(a[0]), a[1])
        if k == 'rmdir':
            return os.rmdir(self.p(a[0]))
        if k == 'symlink':
            return os.symlink(a[0], self.p(a[1]))
        if k == 'chmod':
            return os.chmod(self.p(a[0]), a[1])
        if k == 'utime':
            rel, ns, follow = a
            if ns is None:
                return os.utime(self.p(rel), follow_symlinks=follow)
            return os.utime(self.p(rel), ns=ns, follow_symlinks=follow)
        if k == 'setxattr':
            rel, name, value, flags = a
            return os.setxattr(self.p(rel), name, value, flags)
        if k == 'removexattr':
            return os.removexattr(self.p(a[0]), a[1])
        if k == 'getxattr':
            return os.getxattr(self.p(a[0]), a[1])
        if k == 'read':
            with open(self.p(a[0]), 'rb') as f:
                f.seek(a[1])
                return f.read(a[2])
        if k == 'hold':
            h, rel, flags, mode = a
            self.fds[h] = os.open(self.p(rel), flags, mode)
            return None
        if k == 'fdwrite':
            h, off, data = a
            if off is None:
                return os.write(self.fds[h], data)
            return os.pwrite(self.fds[h], data, off)
        if k == 'fdread':
            h, off, n = a
            return os.pread(self.fds[h], n, off)
        if k == 'fdtrunc':
            return os.ftruncate(self.fds[a[0]], a[1])
        if k == 'fdfsync':
            return os.fsync(self.fds[a[0]])
        if k == 'fdstat':
            st = os.fstat(self.fds[a[0]])
            return st.st_size, stat.S_IMODE(st.st_mode)
        if k == 'close':
            fd = self.fds.pop(a[0])
            return os.close(fd)
        if k == 'stat':
            st = os.lstat(self.p(a[0]))
            t = stat.S_IFMT(st.st_mode)
            return t, stat.S_IMODE(st.st_mode), (st.st_size if not stat.S_ISDIR(st.st_mode) else None)
        if k == 'fallocate':
            rel, flags, off, n = a
            fd = os.open(self.p(rel), flags)
            try:
                os.posix_fallocate(fd, off, n)
                return os.fstat(fd).st_size
            finally:
                os.close(fd)
        if k == 'copyrange':
            src, dst, so, do, n = a
            fd = os.open(self.p(dst), os.O_WRONLY)   # the writer first: see 'stale-reader'
            try:
                fs = os.open(self.p(src), os.O_RDONLY)
                try:
                    total = 0
                    while total < n:
                        c = os.copy_file_range(fs, fd, n - total, so + total, do + total)
                        if c == 0:
                            break
                        total += c
                    return total
                finally:
                    os.close(fs)
            finally:
                os.close(fd)
        if k == 'shared':
            # a reader opened first, then a writer: the reader sees the write (one inode)
            rel, off, data = a
            r = os.open(self.p(rel), os.O_RDONLY)
            try:
                w = os.open(self.p(rel), os.O_WRONLY)
                try:
                    n = os.pwrite(w, data, off)
                finally:
                    os.close(w)
                return n, os.pread(r, len(data) + 100, max(off - 50, 0)), os.fstat(r).st_size
            finally:
                os.close(r)
        if k == 'mmapwrite':
            import mmap
            rel, off, data = a
            fd = os.open(self.p(rel), os.O_RDWR)
            try:
                m = mmap.mmap(fd, os.fstat(fd).st_size)
                try:
                    m[off:off + len(data)] = data
                    m.flush()
                finally:
                    m.close()
                return len(data)
            finally:
                os.close(fd)
        raise ValueError(k)


class Model:
    def __init__(self, args):
        self.a = args
        self.rng = random.Random(args.seed)
        self.ref = Side(args.ref)
        self.head = Side(args.head)
        self.log = collections.deque(maxlen=args.log_tail)
        self.nops = 0
        self.explicit = set()      # reference inode numbers whose mtime the test set itself
        self.held = {}             # handle -> (rel at open, flags)
        self.nexth = 0
        self.version = 0           # newest version number seen
        self.snapshots = {}        # N -> tree of @vN as the HEAD was just before its commit
        self.vinos = {}            # N -> {path: st_ino in @vN}
        self.last_content = None   # content() of the newest version
        self.times_pending = False  # the HEAD differs from the newest version in times only
        self.avoid = set(filter(None, (args.avoid or '').split(',')))
        self.alpha = [c for c in ALPHABET if not ('sort' in self.avoid and c in '-.')]
        self.pool = [n for n in POOL if not ('sort' in self.avoid and ('-' in n or '.' in n))]
        self.stats = collections.Counter()
        self.quiet = False
        self.history = []          # every operation executed, for the shrinker

    # ------------------------------------------------------------ failure reporting
    def fail(self, kind, what, diffs=()):
        """kind: a short signature of the mismatch, the same for the same defect (the
        shrinker keeps a shorter sequence only when it fails with the same kind)."""
        if self.quiet:
            raise Mismatch(kind)
        out = sys.stdout
        print(f'MISMATCH after op #{self.nops} (seed {self.a.seed}): {what}', file=out)
        for d in list(diffs)[:20]:
            print('   ', d, file=out)
        print(f'--- last {len(self.log)} operations (ref result | head result):', file=out)
        for line in self.log:
            print('   ', line, file=out)
        print(f'--- reproduce: {sys.argv[0]} run --seed {self.a.seed} --ops {self.a.ops} '
              f'--commit-every {self.a.commit_every} --check-every {self.a.check_every}'
              + (f' --avoid {self.a.avoid}' if self.a.avoid else '')
              + ' --head EMPTY_ARTIFACT --ref EMPTY_DIR', file=out)
        raise Mismatch(kind)

    # ------------------------------------------------------------ the reference tree
    def listing(self):
        """(dirs, files, links) of the reference, as relative paths; dirs include ''."""
        dirs, files, links = [''], [], []
        for rel, ds, fs in os.walk(self.ref.root):
            r = os.path.relpath(rel, self.ref.root)
            r = '' if r == '.' else r
            for d in ds:
                q = d if not r else r + '/' + d
                if os.path.islink(self.ref.p(q)):
                    links.append(q)
                else:
                    dirs.append(q)
            for f in fs:
                q = f if not r else r + '/' + f
                (links if os.path.islink(self.ref.p(q)) else files).append(q)
        dirs.sort(), files.sort(), links.sort()
        return dirs, files, links

    @staticmethod
    def depth(rel):
        return 0 if rel == '' else rel.count('/') + 1

    @staticmethod
    def parent(rel):
        return rel.rsplit('/', 1)[0] if '/' in rel else ''

    def ino(self, rel):
        try:
            return os.lstat(self.ref.p(rel)).st_ino
        except OSError:
            return None

    # ------------------------------------------------------------ random choices
    def rname(self):
        if self.rng.random() < 0.01:
            # the longest name (255 bytes, multibyte too) or one byte more (ENAMETOOLONG)
            return self.rng.choice(['é' * 127 + 'a', 'a' * 255, 'é' * 128, 'A' * 256])
        while True:
            n = ''.join(self.rng.choice(self.alpha) for _ in range(self.rng.randint(1, 8)))
            if n not in ('.', '..'):
                return n

    def newname(self, d):
        """A name in folder d: random, from the pool, a sibling's name extended, or an
        existing sibling (collisions)."""
        try:
            sib = sorted(os.listdir(self.ref.p(d)))
        except OSError:
            sib = []
        r = self.rng.random()
        if r < 0.35 or not sib:
            if r < 0.15 and self.pool:
                return self.rng.choice(self.pool)
            return self.rname()
        s = self.rng.choice(sib)
        if r < 0.8:
            ext = self.rng.choice(self.alpha)
            if self.rng.random() < 0.4:
                ext += self.rname()[:3]
            return s + ext
        return s

    def newpath(self, dirs, maxdepth=None):
        d = self.rng.choice(dirs)
        if maxdepth is not None:
            ok = [x for x in dirs if self.depth(x) < maxdepth]
            d = self.rng.choice(ok or [''])
        n = self.newname(d)
        return n if d == '' else d + '/' + n

    def data(self):
        r = self.rng.random()
        if r < 0.1:
            return b''
        if r < 0.6:
            n = self.rng.randint(1, 200)
        elif r < 0.93:
            n = self.rng.randint(200, 20000)
        else:
            n = self.rng.randint(20000, 300000)
        if self.rng.random() < 0.5:
            return self.rng.randbytes(n)
        pat = self.rng.randbytes(self.rng.randint(1, 16))
        return (pat * (n // len(pat) + 1))[:n]

    def size_of(self, rel):
        try:
            return os.lstat(self.ref.p(rel)).st_size
        except OSError:
            return 0

    def offset(self, size):
        r = self.rng.random()
        if r < 0.3:
            return self.rng.randint(0, max(size, 0))
        if r < 0.5:
            return size
        if r < 0.9:
            return size + self.rng.randint(1, 100000)
        return size + self.rng.randint(1, self.a.sparse_mib << 20)   # sparse, several MiB

    def xname(self):
        return 'user.' + ''.join(self.rng.choice(ALPHABET + ['k', 'é']) for _ in range(self.rng.randint(1, 8)))

    def xvalue(self, room):
        r = self.rng.random()
        if r < 0.1:
            n = 0
        elif r < 0.6:
            n = self.rng.randint(1, 64)
        else:
            n = self.rng.randint(64, 3000)
        n = max(0, min(n, room))
        if self.rng.random() < 0.3:
            return ''.join(self.rng.choice('abc é-\n') for _ in range(n)).encode()[:n]
        return self.rng.randbytes(n)

    def xroom(self, rel):
        try:
            names = os.listxattr(self.ref.p(rel))
            used = sum(len(n) + 24 + len(os.getxattr(self.ref.p(rel), n)) for n in names)
        except OSError:
            used = 0
        return MAX_XATTR_BYTES - used - 40

    def avoid_empty(self, rel):
        """--avoid empty-reopen: no open for writing of an empty file (a known defect)."""
        return 'empty-reopen' in self.avoid and os.path.isfile(self.ref.p(rel)) and self.size_of(rel) == 0

    # ------------------------------------------------------------ generation
    def gen(self):
        """One random operation, or None to try again."""
        dirs, files, links = self.listing()
        rng = self.rng
        sub = [d for d in dirs if d]
        every = files + sub + links
        wflag = lambda: rng.choice([os.O_WRONLY, os.O_RDWR])
        k = rng.choices(
            ['create', 'pwrite', 'append', 'reopen', 'truncate', 'rename', 'unlink', 'mkdir',
             'rmdir', 'symlink', 'chmod', 'utime', 'setxattr', 'removexattr', 'read',
             'hold', 'fdop', 'close', 'stat', 'vread', 'fallocate', 'copyrange', 'mmapwrite',
             'shared'],
            [12, 10, 5, 6, 5, 9, 5, 7, 4, 4, 4, 5, 6, 3, 2, 5, 9, 3, 3, 2, 1, 2, 1, 2])[0]
        if k == 'create':
            p = self.newpath(dirs)
            flags = os.O_CREAT | rng.choice([os.O_WRONLY, os.O_RDWR]) | \
                rng.choice([os.O_EXCL, os.O_EXCL, os.O_TRUNC, 0])
            if not flags & os.O_EXCL and self.avoid_empty(p):
                return None
            if not flags & os.O_EXCL and os.path.islink(self.ref.p(p)):
                return None   # would follow the link, maybe out of the artifact
            data = b'' if rng.random() < 0.3 else self.data()
            return ('create', p, flags, rng.choice([0o644, 0o600, 0o755, 0o444, 0o666]), data)
        if k in ('pwrite', 'append', 'reopen', 'truncate') and not files:
            return None
        if k == 'pwrite':
            p = rng.choice(files)
            if self.avoid_empty(p):
                return None
            return ('pwrite', p, wflag(), self.offset(self.size_of(p)), self.data() or b'z')
        if k == 'append':
            p = rng.choice(files)
            if self.avoid_empty(p):
                return None
            return ('append', p, os.O_APPEND | wflag(), self.data())
        if k == 'reopen':
            empty = [f for f in files if self.size_of(f) == 0]
            p = rng.choice(empty) if empty and rng.random() < 0.5 else rng.choice(files)
            if self.avoid_empty(p):
                return None
            flags = rng.choice([os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_APPEND,
                                os.O_RDWR | os.O_APPEND, os.O_WRONLY | os.O_TRUNC])
            return ('reopen', p, flags)
        if k == 'truncate':
            p = rng.choice(files) if rng.random() < 0.9 or not sub else rng.choice(sub)
            if self.avoid_empty(p):
                return None
            s = self.size_of(p)
            n = rng.choice([0, rng.randint(0, s), s + rng.randint(1, 70000), s])
            return ('truncate', p, n)
        if k == 'rename':
            if not every:
                return None
            src = rng.choice(every)
            r = rng.random()
            if r < 0.4:
                dst = rng.choice(every)            # over an existing entry (or itself)
            else:
                dst = self.newpath(dirs)
            return ('rename', src, dst)
        if k == 'unlink':
            if not every:
                return None
            cand = files + links
            p = rng.choice(cand) if cand and rng.random() < 0.9 else rng.choice(every)
            return ('unlink', p)
        if k == 'mkdir':
            return ('mkdir', self.newpath(dirs, MAX_DEPTH), rng.choice([0o755, 0o700, 0o775, 0o750]))
        if k == 'rmdir':
            if not every:
                return None
            empty = [d for d in sub if not os.listdir(self.ref.p(d))]
            p = rng.choice(empty) if empty and rng.random() < 0.7 else rng.choice(every)
            return ('rmdir', p)
        if k == 'symlink':
            comps = [rng.choice(['..', '.', self.rname()] + (every and [os.path.basename(rng.choice(every))]))
                     for _ in range(rng.randint(1, 3))]
            t = '/'.join(comps)
            if rng.random() < 0.03:
                t = ('../' * rng.randint(1, 5) + 'a' * 200 + '/') * 20
                t = t[:rng.choice([4095, 4096, rng.randint(256, 4095)])]   # 4096: ENAMETOOLONG
            if t.startswith('@'):
                return None
            return ('symlink', t, self.newpath(dirs))
        if k == 'chmod':
            if rng.random() < 0.08:
                m = rng.randint(0, 0o777) | 0o700
                if 'root-mode' in self.avoid:
                    m &= ~0o022
                return ('chmod', '', m)
            cand = files + sub
            if not cand:
                return None
            p = rng.choice(cand)
            m = rng.randint(0, 0o777)
            if p in sub:
                m |= 0o700    # keep folders usable for the owner
            return ('chmod', p, m)
        if k == 'utime':
            cand = files + sub + links
            if not cand:
                return None
            p = rng.choice(cand)
            follow = p not in links
            if rng.random() < 0.15:
                return ('utime', p, None, follow)
            def t():
                c = rng.random()
                if c < 0.1:
                    return -rng.randint(1, 10 ** 18)          # before 1970
                if c < 0.2:
                    return rng.randint(0, 10 ** 9)
                return rng.randint(10 ** 18, 2 * 10 ** 18)
            return ('utime', p, (t(), t()), follow)
        if k == 'setxattr':
            cand = files + sub + ['']
            p = rng.choice(cand)
            try:
                have = os.listxattr(self.ref.p(p))
            except OSError:
                have = []
            have = [n for n in have if n.startswith('user.') and not n.startswith(IGNORE_ROOT_XATTR)]
            name = rng.choice(have) if have and rng.random() < 0.4 else self.xname()
            flags = rng.choice([0, 0, 0, os.XATTR_CREATE, os.XATTR_REPLACE])
            room = self.xroom(p) + (len(os.getxattr(self.ref.p(p), name)) + len(name) + 24 if name in have else 0)
            room -= len(name)
            if room < 0:
                return None
            return ('setxattr', p, name, self.xvalue(room), flags)
        if k == 'removexattr':
            p = rng.choice(files + sub + [''])
            try:
                have = [n for n in os.listxattr(self.ref.p(p))
                        if n.startswith('user.') and not n.startswith(IGNORE_ROOT_XATTR)]
            except OSError:
                have = []
            name = rng.choice(have) if have and rng.random() < 0.8 else self.xname()
            return ('removexattr', p, name)
        if k == 'read':
            if not files:
                return None
            p = rng.choice(files)
            s = self.size_of(p)
            return ('read', p, rng.randint(0, s + 10), rng.randint(0, 300000))
        if k == 'hold':
            if len(self.held) >= MAX_HELD:
                return None
            h = self.nexth
            if files and rng.random() < 0.7:
                p = rng.choice(files)
                flags = rng.choice([os.O_WRONLY, os.O_RDWR, os.O_RDWR | os.O_APPEND, os.O_WRONLY | os.O_APPEND]
                                   + ([] if 'stale-reader' in self.avoid else [os.O_RDONLY, os.O_RDONLY]))
                if flags != os.O_RDONLY and self.avoid_empty(p):
                    return None
            else:
                p = self.newpath(dirs)
                flags = os.O_CREAT | rng.choice([os.O_RDWR, os.O_WRONLY]) | rng.choice([0, os.O_EXCL])
                if not flags & os.O_EXCL and (os.path.islink(self.ref.p(p)) or self.avoid_empty(p)):
                    return None
            return ('hold', h, p, flags, 0o644)
        if k == 'fdop':
            if not self.held:
                return None
            h = rng.choice(sorted(self.held))
            c = rng.random()
            if c < 0.55:
                return ('fdwrite', h, None if rng.random() < 0.3 else self.offset(rng.randint(0, 50000)), self.data() or b'y')
            if c < 0.75:
                return ('fdread', h, rng.randint(0, 60000), rng.randint(0, 100000))
            if c < 0.87:
                return ('fdtrunc', h, rng.randint(0, 80000))
            if c < 0.95:
                return ('fdstat', h)
            return ('fdfsync', h)
        if k == 'close':
            if not self.held:
                return None
            return ('close', rng.choice(sorted(self.held)))
        if k == 'stat':
            if every and rng.random() < 0.7:
                return ('stat', rng.choice(every))
            return ('stat', self.newpath(dirs))
        if k == 'vread':
            if not self.snapshots:
                return None
            n = rng.choice(sorted(self.snapshots))
            fs = [p for p, e in self.snapshots[n].items() if e['t'] == 'f']
            return ('vread', n, rng.choice(fs)) if fs else None
        if k == 'fallocate':
            if not files:
                return None
            p = rng.choice(files)
            if self.avoid_empty(p):
                return None
            s = self.size_of(p)
            fl = os.O_RDWR if 'fallocate' in self.avoid else rng.choice([os.O_WRONLY, os.O_RDWR])
            return ('fallocate', p, fl, rng.randint(0, s + 1000), rng.randint(1, 100000))
        if k == 'copyrange':
            if not files:
                return None
            src, dst = rng.choice(files), rng.choice(files)
            if self.avoid_empty(dst):
                return None
            return ('copyrange', src, dst, rng.randint(0, self.size_of(src)),
                    self.offset(self.size_of(dst)) if rng.random() < 0.5 else rng.randint(0, self.size_of(dst)),
                    rng.randint(1, 200000))
        if k == 'shared':
            if not files or 'stale-reader' in self.avoid:
                return None
            p = rng.choice(files)
            if self.avoid_empty(p):
                return None
            s = self.size_of(p)
            off = self.offset(s) if rng.random() < 0.5 else rng.randint(0, s)
            return ('shared', p, off, self.data() or b's')
        if k == 'mmapwrite':
            cand = [f for f in files if self.size_of(f) > 0]
            if not cand:
                return None
            p = rng.choice(cand)
            s = self.size_of(p)
            off = rng.randint(0, s - 1)
            return ('mmapwrite', p, off, rng.randbytes(rng.randint(1, min(s - off, 20000))))
        return None

    # ------------------------------------------------------------ bookkeeping of mtimes
    def before(self, op):
        """Reference inode numbers (and folders) whose mtime op may change, taken before."""
        k = op[0]
        touched = []
        if k in ('create', 'mkdir', 'symlink'):
            touched.append(self.parent(op[1] if k != 'symlink' else op[2]))
            touched.append(op[1] if k != 'symlink' else op[2])
        elif k in ('pwrite', 'append', 'truncate', 'fallocate', 'mmapwrite', 'shared'):
            touched.append(op[1])
        elif k == 'copyrange':
            touched.append(op[2])
        elif k == 'reopen' and op[2] & os.O_TRUNC:
            touched.append(op[1])
        elif k in ('unlink', 'rmdir'):
            touched += [op[1], self.parent(op[1])]
        elif k == 'rename':
            touched += [op[1], op[2], self.parent(op[1]), self.parent(op[2])]
        elif k == 'hold':
            touched += [op[2], self.parent(op[2])]
        elif k == 'utime' and op[2] is None:
            touched.append(op[1])
        if 'write-mtime' in self.avoid:
            # a mere open for writing copies a version file up with a new mtime
            if k in ('reopen', 'fallocate') or (k == 'create' and not op[2] & os.O_EXCL):
                touched.append(op[1])
            elif k == 'hold' and op[3] & os.O_ACCMODE != os.O_RDONLY:
                touched.append(op[2])
        inos = {self.ino(p) for p in touched}
        if k in ('fdwrite', 'fdtrunc', 'hold') and op[1] in self.ref.fds:
            inos.add(os.fstat(self.ref.fds[op[1]]).st_ino)
        return inos

    def after(self, op, inos, err):
        k = op[0]
        if k == 'hold' and err is None:
            inos.add(os.fstat(self.ref.fds[op[1]]).st_ino)
        if k in ('create', 'mkdir', 'symlink', 'rename') and err is None:
            inos.add(self.ino(op[1] if k in ('create', 'mkdir') else op[2]))
        self.explicit -= inos
        if k == 'utime' and err is None and op[2] is not None:
            self.explicit.add(self.ino(op[1]))

    def explicit_paths(self, tree):
        return {p for p, e in tree.items() if e['ino'] in self.explicit}

    # ------------------------------------------------------------ running
    def step(self, op):
        self.nops += 1
        inos = self.before(op)
        er, rr = self.ref.apply(op)
        eh, rh = self.head.apply(op)
        if op[0] == 'hold':
            if er is None and eh is None:
                self.held[op[1]] = (op[2], op[3])
                self.nexth += 1
            elif er is None:
                os.close(self.ref.fds.pop(op[1]))
            elif eh is None:
                os.close(self.head.fds.pop(op[1]))
        if op[0] == 'close':
            self.held.pop(op[1], None)
        self.after(op, inos, er)
        line = f'#{self.nops} {opstr(op)} -> {ename(er)} | {ename(eh)}'
        if er is None and rr is not None:
            line += f' [{rstr(rr)}]'
        self.log.append(line)
        self.stats[op[0]] += 1
        if er is not None:
            self.stats['err ' + ename(er)] += 1
        if TRACE:
            print(line, flush=True)
        if not same_errno(op, er, eh):
            self.fail(f'errno {op[0]} {ename(er)}/{ename(eh)}', f'{opstr(op)}: errno differs: reference {ename(er)}, artifs {ename(eh)}')
        if er is None and rr != rh:
            if isinstance(rr, bytes):
                self.fail(f'result {op[0]}', f'{opstr(op)}: result differs: reference {datastr(rr)}, artifs {datastr(rh)}',
                          [first_bytes(rr, rh)])
            more = [first_bytes(a, b) for a, b in zip(rr, rh) if isinstance(a, bytes) and a != b] \
                if isinstance(rr, tuple) and isinstance(rh, tuple) else []
            self.fail(f'result {op[0]}', f'{opstr(op)}: result differs: reference {rstr(rr)}, artifs {rstr(rh)}', more)

    def vread(self, n, rel):
        """Reads a file of an older version and compares it with its snapshot."""
        self.nops += 1
        want = self.snapshots.get(n, {}).get(rel)
        if want is None:
            self.history.pop()
            return None
        p = os.path.join(self.head.root, f'@v{n}', rel)
        try:
            with open(p, 'rb') as f:
                b = f.read()
            got = hashlib.sha256(b).hexdigest()
            st = os.lstat(p)
        except OSError as e:
            got, st = '!' + ename(e.errno), None
        self.log.append(f'#{self.nops} vread(@v{n}/{rel}) -> {got[:12]}')
        self.stats['vread'] += 1
        if got != want['sha'] or st.st_mode & 0o7777 != want['mode'] or st.st_size != want['size']:
            self.fail('vread', f'@v{n}/{rel} reads {got[:16]} (mode {oct(st.st_mode) if st else "-"}), '
                      f'its snapshot says {want["sha"][:16]} size {want["size"]} mode {oct(want["mode"])}')
        return None

    def latest(self):
        try:
            return os.readlink(os.path.join(self.head.root, '@latest'))
        except FileNotFoundError:
            return None

    def check(self, why):
        ref = scan(self.ref.root)
        head = scan(self.head.root)
        d = compare(ref, head, self.explicit_paths(ref), live=(self.ref.root, self.head.root))
        if d:
            self.fail('head ' + dkind(d), f'HEAD differs from the reference ({why})', d)
        want = f'@v{self.version}' if self.version else None
        if self.latest() != want:
            self.fail('latest', f'@latest is {self.latest()!r}, want {want!r} ({why}; only the test commits)')
        return ref, head

    def commit(self, how):
        self.nops += 1
        ref, head = self.check('before a commit')
        msg = f'model seed {self.a.seed} op {self.nops}'
        try:
            if how == 'setxattr':
                os.setxattr(self.head.root, 'user.artifs.commit', msg.encode())
            else:
                fd = os.open(self.head.root, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            err = None
        except OSError as e:
            err = e.errno
        changed = content(ref) != self.last_content
        want = self.version + 1 if changed else self.version
        self.log.append(f'#{self.nops} commit({how}) -> {ename(err)}; expect '
                        + (f'@v{want}' if changed else 'no new version'))
        self.stats['commit ' + how] += 1
        if TRACE:
            print(self.log[-1], flush=True)
        if err is not None:
            self.fail(f'commit {ename(err)}', f'commit by {how} failed with {ename(err)}')
        got = self.latest()
        if got != (f'@v{want}' if want else None):
            self.fail('commit latest', f'after commit by {how}: @latest is {got!r}, want '
                      + (f'@v{want}' if want else 'none')
                      + ('' if changed else ' (the tree did not change but for times)'))
        # --avoid write-mtime: HEAD mtimes are compared only where the test set them
        mt = self.explicit_paths(ref) if 'write-mtime' in self.avoid else 'all'
        after = scan(self.head.root)
        d = compare(head, after, mt)
        if d:
            self.fail('commit head ' + dkind(d), f'the HEAD changed by the commit by {how} (want: before, got: after)', d)
        if self.a.strict_ino:
            moved = [p for p in head if p in after and head[p]['ino'] != after[p]['ino']]
            if moved:
                self.fail('commit ino', 'HEAD inode numbers changed by a commit', moved[:10])
        if not changed:
            self.times_pending = True
            return
        vroot = os.path.join(self.head.root, f'@v{want}')
        v = scan(vroot, skip_at_top=False)
        d = compare(head, v, mt, root_rule='version', live=(self.head.root, vroot))
        d += compare(after, v, mt, root_rule='version') if not d else []
        if v['']['mode'] & 0o022:
            d.insert(0, f'@v{want} has group or other write bits: {oct(v[""]["mode"])}')
        if d:
            self.fail('version ' + dkind(d), f'@v{want} differs from the HEAD at its commit', d)
        try:
            vm = os.getxattr(vroot, 'user.artifs.message')
        except OSError as e:
            vm = ename(e.errno).encode()
        if how == 'setxattr' and vm != msg.encode():
            self.fail('message', f'@v{want} user.artifs.message is {vm!r}, want {msg!r}')
        try:
            hv = os.getxattr(self.head.root, 'user.artifs.version')
        except OSError as e:
            hv = ename(e.errno).encode()
        if hv != str(want).encode():
            self.fail('version xattr', f'HEAD user.artifs.version is {hv!r} after @v{want}')
        self.version = want
        # the HEAD after the commit, with the version's mtimes (the same unless --avoid
        # write-mtime let them differ)
        self.snapshots[want] = {p: dict(e, mtime=v[p]['mtime']) for p, e in after.items()}
        self.vinos[want] = {p: e['ino'] for p, e in v.items()}
        self.last_content = content(ref)
        self.times_pending = False

    def execute(self, op):
        """One operation of a sequence: a file-system operation, ('commit', how) or
        ('check',). In a replay, fd operations on a handle that is not open are skipped."""
        self.history.append(op)
        if op[0] == 'commit':
            return self.commit(op[1])
        if op[0] == 'check':
            self.check(f'periodic, after op #{self.nops}')
            return None
        if op[0] == 'vread':
            return self.vread(op[1], op[2])
        if op[0] in ('fdwrite', 'fdread', 'fdtrunc', 'fdfsync', 'fdstat', 'close') and op[1] not in self.held:
            self.history.pop()
            return None
        if op[0] == 'hold' and op[1] in self.held:
            self.history.pop()
            return None
        return self.step(op)

    def prepare(self):
        a = self.a
        for p in (a.ref, a.head):
            left = [n for n in os.listdir(p) if not n.startswith('@')]
            if left:
                print(f'model.py: {p} is not empty: {left[:5]}', file=sys.stderr)
                sys.exit(2)
        if self.latest() is not None:
            print('model.py: the artifact must have no versions', file=sys.stderr)
            sys.exit(2)
        os.umask(0o022)
        # the roots start alike: the same mode (the artifact folder's is artifs' choice)
        os.chmod(a.ref, stat.S_IMODE(os.stat(a.head).st_mode))
        self.last_content = content(scan(a.ref))   # an empty tree makes no version

    def finish(self):
        for h in sorted(self.held):
            self.execute(('close', h))
        self.execute(('commit', 'setxattr'))
        if self.times_pending:
            # Leave no time-only draft behind for verify: whether unmount keeps it is
            # artifs' choice. One real change makes a last version with it.
            self.execute(('setxattr', '', 'user.model-end', b'end', 0))
            self.execute(('commit', 'setxattr'))
        self.check('at the end')

    def run(self):
        a = self.a
        self.prepare()
        print(f'model: seed {a.seed}, {a.ops} ops, commit every ~{a.commit_every}, '
              f'check every {a.check_every}' + (f', avoiding {a.avoid}' if a.avoid else ''), flush=True)
        t0 = time.time()
        done = 0
        while done < a.ops:
            if self.rng.random() < 1.0 / max(a.commit_every, 1):
                self.execute(('commit', self.rng.choice(['setxattr', 'fsync'])))
                done += 1
                continue
            op = self.gen()
            if op is None:
                continue
            self.execute(op)
            done += 1
            if done % a.check_every == 0:
                self.execute(('check',))
        if a.leave_draft:
            for h in sorted(self.held):
                self.execute(('close', h))
            self.check('at the end, the draft left uncommitted')
        else:
            self.finish()
        print(f'model: seed {a.seed}: {self.nops} ops, {self.version} versions, equal '
              f'({time.time() - t0:.1f} s); ' + ', '.join(f'{k} {v}' for k, v in sorted(self.stats.items())),
              flush=True)
        if a.snapshots:
            with open(a.snapshots, 'w') as f:
                json.dump({'seed': a.seed, 'versions': {str(k): v for k, v in self.snapshots.items()},
                           'vinos': {str(k): v for k, v in self.vinos.items()}}, f)

    def close_all(self):
        for side in (self.ref, self.head):
            for fd in side.fds.values():
                try:
                    os.close(fd)
                except OSError:
                    pass
            side.fds.clear()


def dkind(diffs):
    """A signature of a diff list: the fields that differ, without paths and values."""
    kinds = set()
    for d in diffs:
        rest = d.split(': ', 1)[1] if ': ' in d else d
        kinds.add(rest.split(' want')[0].split(' (')[0].split(' ')[0])
    return ','.join(sorted(kinds))


class Shrinker:
    """Delta debugging (ddmin) of a failing sequence: replays candidate subsequences on
    fresh artifacts beside the HEAD (and fresh folders beside the reference) and keeps the
    shortest that fails with the same kind of mismatch. Bounded by attempts and time."""

    def __init__(self, args, kind, budget_s, max_tries):
        self.a, self.kind = args, kind
        self.deadline = time.time() + budget_s
        self.tries_left = max_tries
        self.n = 0

    def fails(self, ops):
        if self.tries_left <= 0 or time.time() > self.deadline:
            return False
        self.tries_left -= 1
        self.n += 1
        tag = f'{os.getpid()}s{self.n}'
        sub = argparse.Namespace(**vars(self.a))
        sub.head = f'{self.a.head.rstrip("/")}-{tag}'
        sub.ref = f'{self.a.ref.rstrip("/")}-{tag}'
        os.mkdir(sub.head)
        os.mkdir(sub.ref)
        m = Model(sub)
        m.quiet = True
        try:
            m.prepare()
            for op in ops:
                m.execute(op)
            m.finish()
            return False
        except Mismatch as e:
            return str(e) == self.kind
        except Exception:             # a replay that does not fit (e.g. a lost fd)
            return False
        finally:
            m.close_all()

    def shrink(self, ops):
        ops = [op for op in ops if op[0] != 'check']   # the last check is always made
        if not self.fails(ops):
            ops = list(self.full)
        n = 2
        while len(ops) >= 2 and self.tries_left > 0 and time.time() < self.deadline:
            size = max(1, len(ops) // n)
            chunks = [ops[i:i + size] for i in range(0, len(ops), size)]
            for i in range(len(chunks)):
                cand = [op for j, c in enumerate(chunks) if j != i for op in c]
                if cand and self.fails(cand):
                    ops, n = cand, max(n - 1, 2)
                    break
            else:
                if size == 1:
                    break
                n = min(len(ops), n * 2)
        return ops


def shrink_report(args, model, kind):
    print(f'--- shrinking ({args.shrink} s at most, sibling artifacts {args.head}-*) ...', flush=True)
    s = Shrinker(args, kind, args.shrink, 400)
    s.full = list(model.history)
    t0 = time.time()
    ops = s.shrink(list(model.history))
    print(f'--- a sequence of {len(ops)} operations that fails the same way ({kind}; '
          f'{s.n} replays, {time.time() - t0:.0f} s):')
    for op in ops:
        print('   ', opstr(op) if op[0] != 'commit' else f'commit({op[1]})')
    # show the minimal run's own report
    sub = argparse.Namespace(**vars(args))
    sub.head, sub.ref = f'{args.head.rstrip("/")}-min', f'{args.ref.rstrip("/")}-min'
    os.mkdir(sub.head)
    os.mkdir(sub.ref)
    m = Model(sub)
    try:
        m.prepare()
        for op in ops:
            m.execute(op)
        m.finish()
        print('--- (the shrunk sequence passed when replayed once more: flaky?)')
    except Mismatch:
        pass
    finally:
        m.close_all()


def first_bytes(a, b):
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return f'lengths {len(a)}/{len(b)}; first difference at {i}: {a[i:i + 8].hex()} / {b[i:i + 8].hex()}'
    return f'lengths {len(a)}/{len(b)}; equal over the first {n} bytes'


def commit_draft(args, s, snaps, ref):
    """verify --ref --commit: commits the HEAD; a new version exactly when the reference
    differs from the newest snapshot in more than times, equal to the reference; the snapshot
    file gets it, so later verifies check it too."""
    art, bad = args.art, []
    last = max(snaps) if snaps else 0
    changed = content(ref) != content(snaps[last]) if last else content(ref) != content(scan_empty(ref))
    before = scan(art)
    os.setxattr(art, 'user.artifs.commit', b'model: the recovered draft')
    try:
        latest = os.readlink(os.path.join(art, '@latest'))
    except FileNotFoundError:
        latest = None
    want = last + 1 if changed else last
    if latest != (f'@v{want}' if want else None):
        return [f'after committing the recovered draft: @latest is {latest!r}, want @v{want}'
                + ('' if changed else ' (nothing but times changed)')]
    after = scan(art)
    mt = 'none' if 'write-mtime' in (args.avoid or '') else 'all'
    bad += [f'HEAD changed by the commit: {x}' for x in compare(before, after, mt)]
    if changed:
        vroot = os.path.join(art, f'@v{want}')
        v = scan(vroot, skip_at_top=False)
        bad += [f'@v{want}: {x}' for x in compare(after, v, 'all', root_rule='version')]
        bad += [f'@v{want} versus the reference: {x}' for x in compare(ref, v, 'none', root_rule='version')]
        s['versions'][str(want)] = {p: dict(e, mtime=v[p]['mtime']) for p, e in after.items()}
        s['vinos'][str(want)] = {p: e['ino'] for p, e in v.items()}
        with open(args.snapshots, 'w') as f:
            json.dump(s, f)
        snaps[want] = s['versions'][str(want)]
    return bad


def scan_empty(ref):
    """The tree of an empty artifact with ref's root: what no version at all looks like."""
    t = scan(ref)
    return {'': dict(t[''], x={})}


def verify(args):
    """Every version in the snapshot file equals its snapshot; nothing else is there."""
    with open(args.snapshots) as f:
        s = json.load(f)
    snaps = {int(k): v for k, v in s['versions'].items()}
    art = args.art
    have = sorted(int(n[2:]) for n in os.listdir(art) if n.startswith('@v') and n[2:].isdigit())
    bad = []
    if have != sorted(snaps):
        bad.append(f'versions: have {have}, want {sorted(snaps)}')
    want_latest = f'@v{max(snaps)}' if snaps else None
    try:
        latest = os.readlink(os.path.join(art, '@latest'))
    except FileNotFoundError:
        latest = None
    if latest != want_latest:
        bad.append(f'@latest is {latest!r}, want {want_latest!r}')
    for n in sorted(snaps):
        vroot = os.path.join(art, f'@v{n}')
        try:
            v = scan(vroot, skip_at_top=False)
        except OSError as e:
            bad.append(f'@v{n}: cannot scan: {e}')
            continue
        d = compare(snaps[n], v, 'all', root_rule='version')
        bad += [f'@v{n}: {x}' for x in d]
        if args.inodes:
            vi = s['vinos'][str(n)]
            moved = [p for p in vi if p in v and vi[p] != v[p]['ino']]
            bad += [f'@v{n}/{p}: inode number {vi[p]} became {v[p]["ino"]}' for p in moved[:5]]
    if args.ref:
        # a draft left uncommitted (run --leave-draft): the HEAD still equals the reference
        ref = scan(args.ref)
        d = compare(ref, scan(art), 'none')
        bad += [f'HEAD (versus the reference {args.ref}): {x}' for x in d]
        if args.commit and not bad:
            bad += commit_draft(args, s, snaps, ref)
    elif snaps:
        head = scan(art)
        d = compare(snaps[max(snaps)], head, 'all')
        bad += [f'HEAD: {x}' for x in d]
    tag = args.label or 'verify'
    if bad:
        print(f'MISMATCH ({tag}) in {art} (seed {s["seed"]}):')
        for b in bad[:40]:
            print('   ', b)
        return 1
    print(f'model: {tag}: {art}: {len(snaps)} versions and the HEAD equal their snapshots')
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    r = sub.add_parser('run', help='random operations on a HEAD and a reference folder')
    r.add_argument('--head', required=True, help='the artifact folder (its HEAD), empty, no versions')
    r.add_argument('--ref', required=True, help='an empty plain folder')
    r.add_argument('--seed', type=int, default=None)
    r.add_argument('--ops', type=int, default=200)
    r.add_argument('--commit-every', type=int, default=25, help='mean operations between commits')
    r.add_argument('--check-every', type=int, default=10, help='compare the trees every N operations')
    r.add_argument('--snapshots', help='write the versions\' snapshots here (JSON) for verify')
    r.add_argument('--log-tail', type=int, default=50)
    r.add_argument('--avoid', help='comma list of known defects not to provoke: sort '
                   '(no names with - or . that sort around a sibling folder), empty-reopen, '
                   'write-mtime (HEAD mtimes before a commit are not compared with the version), '
                   'fallocate (posix_fallocate on O_RDWR fds only), stale-reader (no read-only '
                   'fds held while the file is written through another), root-mode (no group or '
                   'other write bits on the artifact folder)')
    r.add_argument('--shrink', type=int, default=0, metavar='SECONDS',
                   help='on a mismatch, replay shorter sequences on fresh sibling artifacts '
                   'for up to SECONDS and print the shortest that fails the same way')
    r.add_argument('--sparse-mib', type=int, default=5,
                   help='writes go up to this many MiB past EOF (files of several chunks)')
    r.add_argument('--leave-draft', action='store_true',
                   help='end without the last commit: the HEAD keeps a draft (for crash tests)')
    r.add_argument('--strict-ino', action='store_true', help='HEAD inode numbers must survive a commit')
    v = sub.add_parser('verify', help='check every version against the snapshots of a run')
    v.add_argument('--art', required=True)
    v.add_argument('--snapshots', required=True)
    v.add_argument('--inodes', action='store_true', help='inode numbers in versions must be unchanged')
    v.add_argument('--ref', help='compare the HEAD with this folder (a run with --leave-draft) '
                   'instead of the newest snapshot')
    v.add_argument('--avoid', help='as for run; only write-mtime matters here (with --commit)')
    v.add_argument('--commit', action='store_true', help='with --ref: commit the draft and check '
                   'the new version (and add it to the snapshot file)')
    v.add_argument('--label', help='what is being checked, for the output')
    args = ap.parse_args()
    if args.cmd == 'verify':
        sys.exit(verify(args))
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 32)
    m = Model(args)
    try:
        m.run()
    except Mismatch as e:
        if args.shrink:
            m.close_all()
            shrink_report(args, m, str(e))
        sys.exit(1)


if __name__ == '__main__':
    main()
