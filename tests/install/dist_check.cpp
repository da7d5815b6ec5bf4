// install.downstream's check of xgrad-dist.pc: a program built only with
//   c++ -std=c++20 dist_check.cpp $(pkg-config --cflags --libs xgrad-dist)
// links xgrad::dist (and through it the core and MPI) and runs. Started without mpirun, it makes no MPI call
// but asks whether a launcher started it, and trains nothing; with the local communicator (core) it shards.
#include <cstdio>

#include <xgrad/dist/mpi.hpp>
#include <xgrad/distributed.hpp>

int main() {
    const bool launched = xgrad::dist::mpi_environment::launched_by_mpirun();
    const auto s = xgrad::dist::shard_of(10, 1, 2);  // the second half of 10: columns 5 … 9
    std::printf("xgrad-dist: launched by mpirun: %s; shard_of(10, 1, 2) = [%zu, +%zu)\n",
                launched ? "yes" : "no", s.begin, s.count);
    return !launched && s.begin == 5 && s.count == 5 ? 0 : 1;
}
