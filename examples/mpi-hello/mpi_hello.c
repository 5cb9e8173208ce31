/* Every rank reports itself and the result of two Allreduce calls: a small one, and a 32 MB
   one, large enough to take Open MPI's single-copy (CMA) path between ranks of one node,
   which fails if the ranks do not share a user namespace. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size, one, sum = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    one = rank + 1;
    MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    size_t n = 8u << 20;
    int *big = malloc(n * sizeof *big), *out = malloc(n * sizeof *out);
    if (big == NULL || out == NULL) MPI_Abort(MPI_COMM_WORLD, 1);
    for (size_t i = 0; i < n; i++) big[i] = 1;
    MPI_Allreduce(big, out, (int)n, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    char host[256];
    int len;
    MPI_Get_processor_name(host, &len);
    printf("rank %d of %d on %s: sum %d big %d\n", rank, size, host, sum, out[n - 1]);
    free(big);
    free(out);
    MPI_Finalize();
    return 0;
}
