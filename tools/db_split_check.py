#!/usr/bin/env python3
"""Checks that every item of the old db modules (sso, members, directories at REV) appears,
text unchanged, in exactly one new db module, and that the new modules hold nothing else
besides their header (docs, `use` lines) and section comments.

    python3 tools/db_split_check.py [REV]   # REV still holds the old modules; default: main
"""
import os
import re
import subprocess
import sys

NAME_RE = re.compile(r'^(?:pub(?:\([^)]*\))? )?(?:async )?(fn|struct|enum|const|type|impl(?:<[^>]*>)?) (\w+)', re.M)

def chunks(text):
    """Top-level items (with their docs and attributes), split at blank lines outside braces."""
    lines = text.split('\n')
    out, cur, depth = [], [], 0
    for line in lines:
        if depth == 0 and line.strip() == '':
            if cur:
                out.append('\n'.join(cur))
                cur = []
            continue
        cur.append(line)
        depth += line.count('{') - line.count('}')
        assert depth >= 0, line
    if cur:
        out.append('\n'.join(cur))
    assert depth == 0
    return out

def name_of(chunk):
    m = NAME_RE.search(chunk)
    if not m:
        return None
    kind, name = m.group(1), m.group(2)
    if kind.startswith('impl'):
        return 'impl ' + name
    return name


rev = sys.argv[1] if len(sys.argv) > 1 else 'main'
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NEW = ['connections', 'sign_in', 'redirect_uris', 'users', 'memberships', 'roles', 'invitations', 'mail',
       'directories', 'directory_tokens', 'directory_users', 'directory_groups', 'group_mappings', 'scim_log']
new_chunks = {m: chunks(open(f'{root}/src/server/db/{m}.rs').read()) for m in NEW}
seen = set()
bad = 0
count = 0
for old in ['sso', 'members', 'directories']:
    text = subprocess.check_output(['git', '-C', root, 'show', f'{rev}:src/server/db/{old}.rs'], text=True)
    for c in chunks(text):
        if c.startswith('//!') or c.startswith('use ') or c.startswith('// ---'):
            continue
        pieces = [c]
        if c.startswith('// State names'):
            pieces = [l for l in c.split('\n') if l.startswith('const ')]
        for p in pieces:
            count += 1
            homes = [m for m, cs in new_chunks.items() if any(p == x or (p.startswith('const ') and p in x.split('\n')) for x in cs)]
            if len(homes) != 1 and not (p.startswith('const ') and homes):
                bad += 1
                print(f'{old}: {name_of(p)} found in {homes}')
            for m in homes:
                for x in new_chunks[m]:
                    if p == x:
                        seen.add((m, x))
                    elif p.startswith('const ') and p in x.split('\n'):
                        seen.add((m, x))
extra = 0
for m, cs in new_chunks.items():
    for x in cs:
        if (m, x) in seen or x.startswith('//!') or x.startswith('use ') or x.startswith('// ---'):
            continue
        extra += 1
        print(f'{m}: extra chunk {name_of(x) or x[:60]!r}')
print(f'{count} old items checked, {bad} not found unchanged in exactly one new module, {extra} new items not from the old modules')
sys.exit(1 if bad or extra else 0)
