// Graphviz: writing DOT files and rendering them with the dot program (a child process).
#include "app/graphviz.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "xgrad/io/file.hpp"

namespace xgrad {

template <class T>
void write_dot(const graph<T>& g, const std::filesystem::path& path, const dot_options& o) {
    io::write_atomically(path, to_dot(g, o));
}

std::filesystem::path find_graphviz() {
    const char* path = std::getenv("PATH");
    std::string_view rest = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
    while (true) {
        const auto colon = rest.find(':');
        const std::string dir(rest.substr(0, colon));
        if (!dir.empty()) {
            const std::filesystem::path p = std::filesystem::path(dir) / "dot";
            if (::access(p.c_str(), X_OK) == 0 && std::filesystem::is_regular_file(p)) return p;
        }
        if (colon == std::string_view::npos) break;
        rest.remove_prefix(colon + 1);
    }
    return {};
}

bool render_dot(const std::filesystem::path& dot_file, const std::filesystem::path& out,
                std::string_view format) {
    const std::filesystem::path dot = find_graphviz();
    if (dot.empty()) return false;
    // dot's messages go to a temporary file, read back when it fails.
    std::string err_path = (std::filesystem::temp_directory_path() / "xgrad-dot-XXXXXX").string();
    const int err_fd = ::mkstemp(err_path.data());
    if (err_fd < 0) throw error("render_dot: cannot create a temporary file for dot's messages");
    const std::string fmt_arg = fmt::format("-T{}", format);
    std::vector<std::string> args{dot.string(), fmt_arg, "-o", out.string(), dot_file.string()};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
    pid_t pid = 0;
    const int rc = ::posix_spawn(&pid, dot.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    int status = 0;
    if (rc == 0) ::waitpid(pid, &status, 0);
    ::close(err_fd);
    std::string message;
    {
        std::ifstream f(err_path);
        std::ostringstream s;
        s << f.rdbuf();
        message = s.str();
    }
    std::filesystem::remove(err_path);
    if (rc != 0) throw error(fmt::format("render_dot: cannot run {}", dot.string()));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
        throw error(fmt::format("render_dot: {} failed on {}: {}", dot.string(), dot_file.string(), message));
    }
    return true;
}

template void write_dot<float>(const graph<float>&, const std::filesystem::path&, const dot_options&);
template void write_dot<double>(const graph<double>&, const std::filesystem::path&, const dot_options&);

}  // namespace xgrad
