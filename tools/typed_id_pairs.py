"""Lists async fns in src/server taking an organization id as &str beside another id as &str
(ids that could be swapped). Usage: python3 tools/typed_id_pairs.py [REV]"""
import re,subprocess,sys
rev=sys.argv[1] if len(sys.argv)>1 else None
files=subprocess.run(["git","ls-tree","-r","--name-only",rev or "HEAD","src/server"],capture_output=True,text=True).stdout.split()
n=0
for f in files:
    if not f.endswith(".rs"): continue
    s=subprocess.run(["git","show",f"{rev}:{f}"],capture_output=True,text=True).stdout if rev else open(f).read()
    for m in re.finditer(r"async fn (\w+)(?:<[^>]*>)?\((.*?)\)\s*->", s, re.S):
        ps=[p.strip() for p in m.group(2).split(",") if ":" in p]
        strids=[p.split(":")[0].strip() for p in ps if re.search(r":\s*&str$|:\s*Option<&str>$",p) and re.search(r"(^|_)(id|org)$",p.split(":")[0].strip())]
        if any(p in("organization_id","org") for p in strids) and len(strids)>=2:
            n+=1; print(f, m.group(1))
print("total",n)
