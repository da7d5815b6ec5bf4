// Data parallelism in a training loop of your own (docs/distributed.md): the lines marked ◆ are all it takes.
//   mpirun -np 2 ./data_parallel          (as root: mpirun --allow-run-as-root -np 2 …)
//   mpirun -np 2 ./data_parallel --zero   the optimizer's step sharded over the processes (ZeRO stage 1)
// Each process trains on its slice of every global batch; the gradients are averaged over the global batch,
// so every process holds the same model, the one a single process would train with the global batch. Exit
// status 0 when the model separates the spiral (test accuracy ≥ 90 %).
#include <cstdio>
#include <memory>
#include <string_view>

#include <xgrad/dist/mpi.hpp>
#include <xgrad/xgrad.hpp>

int main(int argc, char** argv) {
    xgrad::dist::mpi_environment env(argc, argv);  // ◆ MPI for the program's lifetime
    xgrad::dist::mpi_communicator comm;            // ◆ every process of the job
    const int rank = comm.rank(), ranks = comm.size();

    auto all = xgrad::data::make_spiral<float>(1200, 2, 0.1, 7);  // the same data on every rank
    auto [train, test] = xgrad::data::split(all, 0.2, 7);
    xgrad::rng g(static_cast<std::uint64_t>(rank));  // different on purpose: the broadcast below fixes it
    auto net = xgrad::nn::mlp<float>({2, 64, 64, 2}, xgrad::nn::activation_kind::relu, g);
    xgrad::optim::adam<float> opt(net->parameters(), 0.01f);

    xgrad::dist::broadcast_model(comm, *net, opt);                          // ◆ start from rank 0's model
    xgrad::dist::gradient_reducer<float> reducer(comm, net->parameters());  // ◆
    // --zero: reduce-scatter the gradients, each rank updates its 1/N of the parameters, all-gather the
    // weights.
    std::unique_ptr<xgrad::dist::sharded_optimizer<float>> zero;
    if (argc > 1 && std::string_view(argv[1]) == "--zero")
        zero = std::make_unique<xgrad::dist::sharded_optimizer<float>>(comm, opt);  // ◆ (ZeRO-1)
    const std::size_t per_rank = 16;
    xgrad::data::batcher<float> batches(train, per_rank * static_cast<std::size_t>(ranks), 1);  // ◆ global
    xgrad::graph<float> tape;
    xgrad::matrix<float> x, y;
    for (int epoch = 1; epoch <= 60; ++epoch) {
        double loss_sum = 0;
        batches.start_epoch();
        while (batches.next()) {
            const std::size_t m = batches.x().shape()[1];
            const auto s = xgrad::dist::shard_of(m, rank, ranks);  // ◆ this rank's columns of the batch
            x = xgrad::matrix<float>({batches.x().shape()[0], s.count});
            y = xgrad::matrix<float>({1, s.count});
            for (std::size_t j = 0; j < s.count; ++j) {
                for (std::size_t f = 0; f < x.shape()[0]; ++f) x(f, j) = batches.x()(f, s.begin + j);
                y(0, j) = batches.y()(0, s.begin + j);
            }
            tape.clear();
            opt.zero_grad();
            if (s.count > 0) {
                auto loss = xgrad::softmax_cross_entropy((*net)(tape.borrow(x)), tape.borrow(y));
                loss_sum += static_cast<double>(loss.item()) * static_cast<double>(s.count);
                const double share = static_cast<double>(s.count) / static_cast<double>(m);
                if (zero) {
                    zero->backward(tape, loss, share);  // ◆ backward + this rank's shard of the mean
                } else {
                    reducer.backward(tape, loss, share);  // ◆ backward + mean over ranks
                }
            } else if (zero) {
                zero->reduce(0);  // ◆ no example here this time: still take part in the sum
            } else {
                reducer.reduce(0);  // ◆
            }
            if (zero) {
                zero->step();  // ◆ this rank's shard, then every rank's new weights
            } else {
                opt.step();
            }
        }
        comm.allreduce_sum(std::span<double>(&loss_sum, 1));
        if (rank == 0 && epoch % 20 == 0)
            std::printf("epoch %d: training loss %.4f\n", epoch,
                        loss_sum / static_cast<double>(train.size()));
    }
    if (zero) zero->gather_state();  // ◆ the whole optimizer state on every rank (before saving it)
    const auto e = xgrad::train::evaluate(*net, test, 1000, {}, {}, &comm);  // each rank a slice
    if (rank == 0) std::printf("test accuracy %.2f%% on %d processes\n", 100 * e.accuracy, ranks);
    return e.accuracy >= 0.9 ? 0 : 1;
}
