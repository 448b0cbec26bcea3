import time, resource, sys
n=1000; d=float(sys.argv[1])
r0=resource.getrusage(resource.RUSAGE_SELF); t0=time.time()
for i in range(n): time.sleep(d)
r1=resource.getrusage(resource.RUSAGE_SELF)
print("sleep %.4f: cpu %.1f us/iter" % (d, ((r1.ru_utime-r0.ru_utime)+(r1.ru_stime-r0.ru_stime))*1e6/n))
