import re,sys
def load(p):
    d={}
    for l in open(p):
        m=re.match(r'\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)$',l)
        if m: d[m.group(2).strip()]=d.get(m.group(2).strip(),0)+int(m.group(1).replace(',',''))
    return d
a=load(sys.argv[1]); b=load(sys.argv[2]); n=float(sys.argv[3])
rows=sorted(((b.get(k,0)-a.get(k,0))/n,k) for k in set(a)|set(b))
rows.reverse()
for v,k in rows[:int(sys.argv[4])]: print(f"{v:12.0f}  {k[:170]}")
