import sys,re,subprocess,glob
def writer_file(d):
    for x in sorted(glob.glob(f'/tmp/cg/{d}/*-*')):
        out=subprocess.run(['callgrind_annotate','--inclusive=yes','--threshold=100',x],capture_output=True,text=True).stdout
        if 'conn::WriterState::transaction ' in out: return out
def load(d):
    r={}
    for l in writer_file(d).splitlines():
        m=re.match(r'^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*?)(\s+\[.*\])?$',l)
        if m: r.setdefault(m.group(2),int(m.group(1).replace(',','')))
    return r
posts=600
res={}
for b in ['base','new']:
    a=load(f'{b}-15'); c=load(f'{b}-45')
    res[b]={k:(c[k]-a.get(k,0))/posts for k in c}
keys=sorted(res['base'],key=lambda k:-res['base'][k])[:int(sys.argv[1]) if len(sys.argv)>1 else 60]
print(f"{'base':>10} {'new':>10}  function (inclusive instructions per post, writer thread)")
for k in keys:
    print(f"{res['base'][k]:10.0f} {res['new'].get(k,0):10.0f}  {k[:120]}")
print("--- largest differences")
ks=sorted(set(res['base'])|set(res['new']),key=lambda k:-abs(res['new'].get(k,0)-res['base'].get(k,0)))[:40]
for k in ks: print(f"{res['base'].get(k,0):10.0f} {res['new'].get(k,0):10.0f}  {k[:120]}")
