#!/usr/bin/env python3
"""Rewrites callers of the old database modules `db::sso`, `db::members` and `db::directories`
to the modules that now hold each item (issue 23, "one home per entity").

    python3 tools/db_paths.py            # every .rs file under src/ and tests/
    python3 tools/db_paths.py FILE|DIR…  # only these

Run from anywhere; paths default to the repository this script lives in. Idempotent: a second run
changes nothing. Then run `cargo fmt --all` (rewritten `use` lists are not laid out by hand).

What it rewrites, in any file:
- plain paths: `db::sso::insert_membership(`, `crate::server::db::directories::DirUserRow`;
- `use` trees naming an old module's items: `use crate::server::db::{self, sso::ConnectionRow};`,
  `use crate::server::db::directories::{DirUserRow, LogFilter};`;
- an old module imported as a module (`…::db::members::{self as q, …}`, `…::db::{members as q}`,
  `…::db::{self, sso}`): the import goes, `q::name` becomes `db::<new module>::name`, and
  `…::db` itself is imported where the file does not import it yet.
An item it does not know stops it with an error naming the file, before anything is written.
"""
import os
import re
import sys

# Old module → item → new module (every public item of the three old modules).
MOVES = {
    'sso': {
        **dict.fromkeys(['ConnectionRow', 'insert_connection', 'update_connection', 'get_connection', 'connection_owner', 'list_connections', 'delete_connection'], 'connections'),
        **dict.fromkeys(['SsoRequestRow', 'insert_request', 'take_request', 'insert_code', 'RedeemedCode', 'take_code', 'code_is_live', 'insert_attempt', 'AttemptResult', 'last_attempt'], 'sign_in'),
        **dict.fromkeys(['redirect_uri_allowed', 'add_redirect_uri', 'RedirectUriRow', 'list_redirect_uris', 'remove_redirect_uri'], 'redirect_uris'),
        **dict.fromkeys(['insert_user', 'insert_identity', 'touch_identity', 'UserMembership', 'identity_membership', 'member_by_email'], 'users'),
        **dict.fromkeys(['membership_state', 'insert_membership', 'set_membership_state', 'insert_grant'], 'memberships'),
    },
    'members': {
        **dict.fromkeys(['user_by_email', 'identity_user'], 'users'),
        **dict.fromkeys(['MemberRow', 'MemberFilter', 'list_members', 'get_member', 'membership_owner', 'set_role', 'touch_sign_in', 'GrantRow', 'grants', 'grants_of'], 'memberships'),
        **dict.fromkeys(['RoleRow', 'list_roles', 'get_role', 'insert_role', 'delete_role', 'role_uses'], 'roles'),
        **dict.fromkeys(['InvitationRow', 'insert_invitation', 'get_invitation', 'invitation_owner', 'list_invitations', 'pending_for', 'due_expiries', 'finish_invitation', 'extend_invitation', 'claim_acceptance', 'set_invitation_membership', 'TokenInvitation', 'invitation_by_token', 'insert_token', 'replace_tokens', 'spend_token'], 'invitations'),
        **dict.fromkeys(['MailRow', 'insert_mail', 'due_mail', 'claim_mail', 'mail_sent', 'mail_failed', 'cancel_invitation_mail', 'lock_invitation_mail', 'MailCount', 'invitation_mails_since', 'invitation_mails_to_since', 'last_invitation_mail_at', 'latest_mail'], 'mail'),
    },
    'directories': {
        **dict.fromkeys(['void_codes'], 'sign_in'),
        **dict.fromkeys(['user_email'], 'users'),
        **dict.fromkeys(['other_active_admins', 'newest_grant_at', 'GrantKindDetail', 'newest_grant', 'ManagedMembership', 'membership_of_user', 'membership_of_id', 'lock_membership', 'set_managed_membership', 'schedule_removal', 'DueRemoval', 'due_removals', 'claim_removal', 'removal_skipped_since'], 'memberships'),
        **dict.fromkeys(['DirectoryRow', 'insert_directory', 'get_directory', 'directory_owner', 'list_directories', 'update_directory', 'delete_directory', 'has_authoritative'], 'directories'),
        **dict.fromkeys(['insert_token', 'expire_tokens', 'TokenDirectory', 'token_directory', 'token_last_used', 'touch_token', 'LiveToken', 'live_tokens'], 'directory_tokens'),
        **dict.fromkeys(['DirUserRow', 'insert_user', 'update_user', 'get_user', 'user_by_name_key', 'delete_user', 'UserColumn', 'Page', 'page_users', 'all_users', 'existing_user_ids', 'authoritative_users'], 'directory_users'),
        **dict.fromkeys(['DirGroupRow', 'insert_group', 'update_group', 'get_group', 'delete_group', 'GroupColumn', 'page_groups', 'all_groups', 'DirUserName', 'group_members', 'add_member', 'remove_member', 'DirGroupName', 'groups_of_user', 'GroupMemberCount', 'member_counts'], 'directory_groups'),
        **dict.fromkeys(['GroupRoleMapping', 'mappings', 'replace_mappings'], 'group_mappings'),
        **dict.fromkeys(['ScimRequestRow', 'insert_request', 'LogFilter', 'list_requests', 'RequestStats', 'request_stats', 'last_error', 'purge_requests'], 'scim_log'),
    },
}
OLD = '|'.join(MOVES)


class Unknown(Exception):
    pass


def new_module(old, item, where):
    try:
        return MOVES[old][item]
    except KeyError:
        raise Unknown(f'{where}: `{old}::{item}` is not an item the split knows') from None


# --- `use` trees ----------------------------------------------------------------------------

TOKEN = re.compile(r'\s*(::|[{},*]|(?:r#)?\w+)')


def tokenize(s):
    out, i = [], 0
    s = s.rstrip()
    while i < len(s):
        m = TOKEN.match(s, i)
        if not m:
            raise ValueError(f'cannot read use tree: {s!r}')
        out.append(m.group(1))
        i = m.end()
    return out


def parse_tree(toks, pos, prefix, out):
    """Parses one use tree at toks[pos]; appends (segments, alias) to out; returns next pos.
    A `self` entry is the prefix's own segments."""
    segs = list(prefix)
    while True:
        t = toks[pos]
        if t == '{':
            pos += 1
            while toks[pos] != '}':
                pos = parse_tree(toks, pos, segs, out)
                if toks[pos] == ',':
                    pos += 1
            return pos + 1
        if t == '*':
            out.append((segs + ['*'], None))
            return pos + 1
        if t == 'self' and segs:
            pos += 1
        else:
            segs.append(t)
            pos += 1
            if pos < len(toks) and toks[pos] == '::':
                pos += 1
                continue
        alias = None
        if pos < len(toks) and toks[pos] == 'as':
            alias = toks[pos + 1]
            pos += 2
        out.append((segs, alias))
        return pos


def flatten(tree_text):
    toks = tokenize(tree_text)
    out = []
    pos = parse_tree(toks, 0, [], out)
    assert pos == len(toks), tree_text
    return out


def emit(entries):
    """Lays entries out as use trees, one per first segment."""
    root = {}
    for segs, alias in entries:
        node = root
        for s in segs:
            node = node.setdefault(s, {})
        node.setdefault(None, []).append(alias)

    def sub(node):
        items = ['self' if a is None else f'self as {a}' for a in node.get(None, [])]
        for seg, child in node.items():
            if seg is None:
                continue
            inner = sub(child)
            if len(inner) == 1 and inner[0] == 'self':
                items.append(seg)
            elif len(inner) == 1 and inner[0].startswith('self as '):
                items.append(f'{seg} as {inner[0][8:]}')
            elif len(inner) == 1:
                items.append(f'{seg}::{inner[0]}')
            else:
                items.append(f'{seg}::{{{", ".join(inner)}}}')
        return items

    return sub(root)


GONE = '\x00import removed\x00'
USE = re.compile(r'(?m)^([ \t]*)((?:pub(?:\([^)]*\))?\s+)?use\s+)([^;]*);')


def db_at(segs):
    """Index of the `db` segment followed by an old module name, or None."""
    for i in range(len(segs) - 1):
        if segs[i] == 'db' and segs[i + 1] in MOVES:
            return i
    return None


def imports_db(text):
    """Whether some `use` in the file brings the `db` module itself into scope."""
    for m in USE.finditer(text):
        try:
            entries = flatten(m.group(3))
        except (ValueError, IndexError, AssertionError):
            continue
        if any(segs and segs[-1] == 'db' and alias is None for segs, alias in entries):
            return True
    return False


def rewrite_uses(text, where):
    aliases = {}  # alias → old module
    has_db = imports_db(text)

    def one(m):
        nonlocal has_db
        indent, head, tree = m.group(1), m.group(2), m.group(3)
        if not re.search(rf'\b({OLD})\b', tree) or 'db' not in tree:
            return m.group(0)
        entries = flatten(tree)
        if all(db_at(segs) is None for segs, _ in entries):
            return m.group(0)
        new = []
        for segs, alias in entries:
            i = db_at(segs)
            if i is None:
                new.append((segs, alias))
                continue
            old = segs[i + 1]
            if len(segs) == i + 2:  # the old module itself
                aliases[alias or old] = old
                if not has_db:
                    new.append((segs[: i + 1], None))
                    has_db = True
                continue
            segs = segs[: i + 1] + [new_module(old, segs[i + 2], where)] + segs[i + 2:]
            new.append((segs, alias))
        if new == entries:  # already the new paths (`db::directories` is also a new module)
            return m.group(0)
        if not new:
            return GONE
        return '\n'.join(f'{indent}{head}{t};' for t in emit(new))

    text = USE.sub(one, text)
    text = text.replace(GONE + '\n', '').replace(GONE, '')
    return text, aliases


# --- the file -------------------------------------------------------------------------------

PLAIN = re.compile(rf'\bdb::({OLD})::(\w+)')


def rewrite(text, where):
    text, aliases = rewrite_uses(text, where)
    for alias, old in aliases.items():
        text = re.sub(
            rf'(?<![\w:]){re.escape(alias)}::(\w+)',
            lambda m: f'db::{new_module(old, m.group(1), where)}::{m.group(1)}',
            text,
        )
    return PLAIN.sub(lambda m: f'db::{new_module(m.group(1), m.group(2), where)}::{m.group(2)}', text)


def files(args):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    targets = args or [os.path.join(root, 'src'), os.path.join(root, 'tests')]
    for t in targets:
        if os.path.isfile(t):
            yield t
            continue
        for d, _, names in os.walk(t):
            for n in sorted(names):
                if n.endswith('.rs'):
                    yield os.path.join(d, n)


def main():
    changes = {}
    for path in files(sys.argv[1:]):
        with open(path, encoding='utf-8') as f:
            text = f.read()
        try:
            new = rewrite(text, path)
        except Unknown as e:
            sys.exit(f'db_paths: {e}')
        if new != text:
            changes[path] = new
    for path, new in changes.items():
        with open(path, 'w', encoding='utf-8') as f:
            f.write(new)
        print(f'rewrote {os.path.relpath(path)}')
    print(f'db_paths: {len(changes)} file(s) changed')


if __name__ == '__main__':
    main()
