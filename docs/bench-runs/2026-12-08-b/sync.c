// CPU and wall time of one durable append (pwrite of N pages, then fsync or fdatasync), spaced
// like posts at 200/s: the least a durable commit per post costs on this guest.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
static double cpu(void){struct rusage r;getrusage(RUSAGE_SELF,&r);return r.ru_utime.tv_sec+r.ru_utime.tv_usec/1e6+r.ru_stime.tv_sec+r.ru_stime.tv_usec/1e6;}
int main(int argc,char**argv){
  const char*path=argv[1]; int n=atoi(argv[2]); int pages=atoi(argv[3]); int gap_us=atoi(argv[4]); int data=argc>5&&!strcmp(argv[5],"fdatasync");
  int fd=open(path,O_RDWR|O_CREAT|O_TRUNC,0600); char buf[4096*64]; memset(buf,7,sizeof buf);
  // Preallocated and reused, as SQLite reuses its WAL after a checkpoint.
  for(int i=0;i<256;i++) pwrite(fd,buf,4096*64,(off_t)i*4096*64); fsync(fd);
  double c0=cpu(), t0=now(), wall=0, maxw=0; off_t off=0; static double ws[100000];
  for(int i=0;i<n;i++){
    usleep(gap_us);
    double s=now();
    pwrite(fd,buf,4096*pages,off); off=(off+4096*pages)%(4096*64*200);
    if(data) fdatasync(fd); else fsync(fd);
    double w=now()-s; ws[i]=w; wall+=w; if(w>maxw)maxw=w;
  }
  double c=cpu()-c0;
  // usleep's own wake-up is in the CPU figure too; measured alone below.
  double c1=cpu(); for(int i=0;i<n;i++) usleep(gap_us); double idle=cpu()-c1;
  int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;} qsort(ws,n,sizeof(double),cmp);
  printf("p50 %.0f us p90 %.0f p99 %.0f p99.9 %.0f\n",ws[n/2]*1e6,ws[n*9/10]*1e6,ws[n*99/100]*1e6,ws[n*999/1000]*1e6);
  printf("%s pages=%d gap=%dus: %.1f us cpu/op (sleep alone %.1f), wall %.1f us mean, %.1f max\n",
    data?"fdatasync":"fsync",pages,gap_us,(c-idle)/n*1e6,idle/n*1e6,wall/n*1e6,maxw*1e6);
  return 0;}
