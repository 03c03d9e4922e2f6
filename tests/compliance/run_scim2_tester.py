#!/usr/bin/env python3
"""Run the scim2-tester compliance suite against a SCIM 2.0 server.

Usage:
    run_check.py BASE_URL TOKEN [options]
    run_check.py http://127.0.0.1:8080/scim/v2/dir1 secret-token

Prints one line per check:  STATUS<TAB>RESOURCE<TAB>CHECK<TAB>REASON
and a closing line "N passed, N failed, N skipped".

Exit codes: 0 all checks acceptable, 1 at least one failing check,
2 usage error / the checker itself crashed / server unreachable.

Failing statuses: ERROR and CRITICAL (plus DEVIATION with --strict).
SKIPPED, SUCCESS, COMPLIANT, ACCEPTABLE are not failures.
Requires: pip install scim2-tester==0.5.2 (pulls scim2-client[httpx2], scim2-models).
"""

import argparse
import json
import os
import sys


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("base_url", nargs="?", help="SCIM base URL, e.g. http://127.0.0.1:8080/scim/v2/dir1")
    p.add_argument("token", nargs="?", default=os.environ.get("SCIM_TOKEN"),
                   help="Bearer token (or env SCIM_TOKEN)")
    p.add_argument("--include-tags", default="",
                   help="comma list, e.g. discovery,crud,patch (hierarchical: 'crud' matches 'crud:read')")
    p.add_argument("--exclude-tags", default="", help="comma list of tags to skip, e.g. patch:remove")
    p.add_argument("--resource-types", default="", help="comma list of ResourceType names, e.g. User,Group")
    p.add_argument("--strict", action="store_true", help="also fail on DEVIATION (SHOULD violations)")
    p.add_argument("--no-content-type-check", action="store_true",
                   help="do not require application/scim+json or application/json responses")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout (s)")
    p.add_argument("--json", metavar="FILE", help="also write all results as JSON to FILE")
    p.add_argument("-v", "--verbose", action="store_true", help="print debug data for failing checks")
    p.add_argument("--list-tags", action="store_true", help="print available tags and exit")
    args = p.parse_args(argv)
    if not args.list_tags and (not args.base_url or not args.token):
        p.error("BASE_URL and TOKEN are required (token may come from SCIM_TOKEN env)")
    return args


def _csv(value):
    return {v.strip() for v in value.split(",") if v.strip()} or None


def _one_line(text, limit=400):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)

    try:
        from httpx2 import Client
        from scim2_client.engines.httpx2 import SyncSCIMClient
        from scim2_tester import Status, check_server, get_all_available_tags
    except ImportError as exc:  # pragma: no cover
        print(f"IMPORT ERROR: {exc} -- pip install scim2-tester==0.5.2", file=sys.stderr)
        return 2

    if args.list_tags:
        print("\n".join(get_all_available_tags()))
        return 0

    failing = {Status.ERROR, Status.CRITICAL}
    if args.strict:
        failing.add(Status.DEVIATION)

    http = Client(
        base_url=args.base_url,
        headers={"Authorization": f"Bearer {args.token}"},
        timeout=args.timeout,
    )
    client = SyncSCIMClient(
        http, check_response_content_type=not args.no_content_type_check
    )
    resource_types = sorted(_csv(args.resource_types) or []) or None
    try:
        results = check_server(
            client,
            include_tags=_csv(args.include_tags),
            exclude_tags=_csv(args.exclude_tags),
            resource_types=resource_types,
        )
    except Exception as exc:  # the checker should not raise; treat as harness failure
        print(f"HARNESS ERROR\t-\tcheck_server\t{type(exc).__name__}: {_one_line(exc)}")
        return 2
    finally:
        http.close()

    passed = failed = skipped = 0
    records = []
    for r in results:
        bad = r.status in failing
        if r.status == Status.SKIPPED:
            skipped += 1
        elif bad:
            failed += 1
        else:
            passed += 1
        line = "\t".join([
            r.status.name,
            r.resource_type or "-",
            r.title or "?",
            _one_line(r.reason or ""),
        ])
        print(line)
        if bad and args.verbose and r.data is not None:
            print("\tdata: " + _one_line(repr(r.data), 2000))
        records.append({
            "status": r.status.name,
            "failed": bad,
            "resource_type": r.resource_type,
            "title": r.title,
            "reason": r.reason,
            "tags": sorted(r.tags),
            "data": _one_line(repr(r.data), 4000) if r.data is not None else None,
        })

    # check_server returns early (only discovery results) when discovery fails;
    # make that visible even if no individual check reported it.
    ran_crud = any(r.resource_type for r in results)
    if not ran_crud and not args.include_tags:
        print("ERROR\t-\tresource_checks\tno per-resource checks ran "
              "(discovery of /ServiceProviderConfig, /ResourceTypes or /Schemas failed)")
        failed += 1

    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"base_url": args.base_url, "results": records,
                       "passed": passed, "failed": failed, "skipped": skipped}, fh, indent=2)

    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
