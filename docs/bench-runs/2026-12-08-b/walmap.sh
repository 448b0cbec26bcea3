#!/usr/bin/env bash
# usage: walmap.sh BIN RATE: copy the embedded store mid-run, then count the pages each commit in the WAL dirties, per B-tree
set -uo pipefail; export CI=true
B=$1; R=$2
rm -rf /tmp/prof/snap; mkdir -p /tmp/prof/snap
timeout 300 /tmp/base/yui-loadtest --out /tmp/prof/out --spawn-hub $B/yui fanout --rooms 200 --members 10 --rate $R --duration 20 > /tmp/prof/wm-$R.log 2>&1 &
p=""; for _ in $(seq 1 120); do p=$(pgrep -x yui | head -1); [ -n "$p" ] && break; sleep 0.5; done
sleep 12
db=$(ls -l /proc/$p/fd 2>/dev/null | grep -o "/tmp/yui-bench[^ ]*yui.db$" | head -1)
cp $db-wal /tmp/prof/snap/wal; cp $db /tmp/prof/snap/yui.db
wait
python3 - <<'PY'
import struct, sqlite3, collections, shutil
wal=open('/tmp/prof/snap/wal','rb').read()
magic,ver,psize,ckseq,s1,s2,c1,c2=struct.unpack('>8I',wal[:32])
off=32; frames=[]
while off+24+psize<=len(wal):
    pg,dbsize,fs1,fs2=struct.unpack('>4I',wal[off:off+16])
    if (fs1,fs2)!=(s1,s2): break
    frames.append((pg,dbsize)); off+=24+psize
# page -> btree name from the db file as it is (pages added since are 'new')
c=sqlite3.connect('file:/tmp/prof/snap/yui.db?mode=ro&immutable=1',uri=True)
owner={r[1]:r[0] for r in c.execute("select name,pageno from dbstat")}
commits=[]; cur=[]
for pg,dbsize in frames:
    cur.append(pg)
    if dbsize: commits.append(cur); cur=[]
commits=commits[-400:]
tot=collections.Counter()
for cm in commits:
    for pg in set(cm): tot[owner.get(pg,'(new page)')]+=1
print(f"page size {psize}, {len(frames)} frames, last {len(commits)} commits: {sum(len(set(x)) for x in commits)/len(commits):.1f} distinct pages per commit")
for k,v in tot.most_common(20): print(f"{v/len(commits):7.2f}  {k}")
PY
grep -E "posts acked|delivery latency" /tmp/prof/wm-$R.log
