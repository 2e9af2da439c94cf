// socialnet (the port to drust): socialnet_std.cpp with its includes and std:: qualifiers swapped,
// run across a cluster with `drun -n 4 socialnet-drust`; the checksum is the original's on any
// number of nodes. README.md describes the services, the workload and why the checksum is
// deterministic.
//
// What changed against socialnet_std.cpp:
//   The swaps (docs/porting.md): <barrier>, <future>, <memory>, <thread> -> <drust/std/barrier>,
//     <drust/std/future>, <drust/std/memory>, <drust/std/thread>; std::barrier, promise, future,
//     async, thread, shared_ptr, make_shared -> drust::std::. Each service's state stays in
//     std containers owned by its worker thread (node-local, never shared), and what travels
//     (requests, replies, thread arguments) is copied by value, so no std::vector is swapped.
//   One further change (2 lines): the original's channels, mpsc.hpp (std has none: a mutex, a
//     condition variable and a deque, shaped like drust's), become drust's: the include, and
//     `namespace mpsc = drust::std::sync;` so that every use site (mpsc::channel, mpsc::sender,
//     mpsc::receiver) stays as it is. A worker makes the channel it serves, so with drust the
//     channel's queue lives on the worker's node and its receive is local; a call to another
//     node is two messages: the request, and the reply that fulfils its promise.
//   Nothing else: drust's scheduler places the workers and clients (no drust::on). The port stays
//   line for line with the original, so clang-format is off here: re-flowing the longer drust
//   names would show in the diff as changes that are not.
//
//   socialnet-drust [--users N] [--requests N] [--clients N] [--workers N] [--seed S]
// clang-format off
#include <algorithm>
#include <array>
#include <drust/std/barrier>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <drust/std/future>
#include <drust/std/memory>
#include <optional>
#include <string>
#include <string_view>
#include <drust/std/thread>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include <drust/std/sync>

namespace mpsc = drust::std::sync;

namespace {

// ---- Posts ---------------------------------------------------------------------------------

using user_id = std::uint32_t;
using post_id = std::uint64_t;
// The client phase's logical clock: its round. A write made in round r is read from round r + 1.
using logical_time = std::uint32_t;

constexpr std::size_t max_text = 280;  // characters, as Twitter's limit
constexpr std::size_t max_mentions = 8;
constexpr std::size_t max_media = 4;
constexpr std::size_t timeline_page = 10;  // posts per timeline read

// A post is a fixed-size record, so that it is stored and sent as plain bytes.
struct post {
  post_id id;
  user_id author;
  logical_time time;
  std::uint16_t text_length, mention_count, url_count, media_count;
  std::array<char, max_text> text;
  std::array<user_id, max_mentions> mentions;
  std::array<std::uint64_t, max_media> media;
};

// splitmix64's finaliser: a bijection on 64-bit words that mixes every bit into every other.
constexpr std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t hash_text(std::string_view text) {
  std::uint64_t h = mix(text.size());
  for (const char c : text) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;  // FNV-1a
  return mix(h);
}

std::uint64_t hash_post(const post& p) {
  std::uint64_t h = mix(p.id ^ mix(p.author ^ (std::uint64_t{p.time} << 32)));
  h = mix(h ^ hash_text(std::string_view(p.text.data(), p.text_length)));
  h = mix(h ^ p.url_count);
  for (std::size_t i = 0; i < p.mention_count; ++i) h = mix(h ^ p.mentions[i]);
  for (std::size_t i = 0; i < p.media_count; ++i) h = mix(h ^ p.media[i]);
  return h;
}

// ---- Services: calls over channels ----------------------------------------------------------

// A call to a service: the request, and the promise its reply fulfils (one reply: a promise is
// all it needs, not a channel of its own).
template <class Request, class Reply>
using call = std::pair<Request, drust::std::promise<Reply>>;
// A service as its callers see it: the senders of its workers' channels. A request goes to the
// worker that owns its key, which keeps that shard of the state to itself (no lock).
template <class Request, class Reply>
using service = std::vector<mpsc::sender<call<Request, Reply>>>;
// How a worker hands the sender of the channel it serves to whoever started it.
template <class Request, class Reply>
using inbox_promise = drust::std::promise<mpsc::sender<call<Request, Reply>>>;

// Sends `request` to the worker owning `key`; the reply comes through the returned future.
template <class Request, class Reply>
drust::std::future<Reply> send_request(const service<Request, Reply>& to, std::uint64_t key,
                                Request request) {
  drust::std::promise<Reply> reply_to;
  drust::std::future<Reply> reply = reply_to.get_future();
  to[key % to.size()].send(call<Request, Reply>(std::move(request), std::move(reply_to)));
  return reply;
}

// Sends `request` and waits for the reply.
template <class Request, class Reply>
Reply ask(const service<Request, Reply>& to, std::uint64_t key, Request request) {
  return send_request(to, key, std::move(request)).get();
}

// A worker's first act: make the channel it serves, and hand its sender out.
template <class Request, class Reply>
mpsc::receiver<call<Request, Reply>> open_inbox(inbox_promise<Request, Reply>& inbox) {
  auto [requests, calls] = mpsc::channel<call<Request, Reply>>();
  inbox.set_value(std::move(requests));
  return std::move(calls);
}

// ---- post-storage: posts by id --------------------------------------------------------------

enum class storage_op : std::uint32_t { store, read };
// A store carries the post; a read the ids of up to a page of posts.
struct storage_request {
  storage_op op;
  std::uint32_t count;
  std::array<post_id, timeline_page> ids;
  post stored;
};
using storage_reply = std::vector<post>;  // a read's posts in the order asked; empty for a store
using storage_service = service<storage_request, storage_reply>;

std::uint64_t storage_key(post_id id) { return mix(id); }

void post_storage(inbox_promise<storage_request, storage_reply> inbox) {
  auto calls = open_inbox(inbox);
  std::unordered_map<post_id, post> posts;
  while (auto received = calls.recv()) {
    auto& [request, reply_to] = *received;
    storage_reply reply;
    if (request.op == storage_op::store) {
      posts.emplace(request.stored.id, request.stored);
    } else {
      for (std::size_t i = 0; i < request.count; ++i) reply.push_back(posts.at(request.ids[i]));
    }
    reply_to.set_value(std::move(reply));
  }
}

// ---- user-timeline and home-timeline: post ids by user, in (time, id) order ------------------
//
// The two services have the same shape: user-timeline keeps each user's own posts, home-timeline
// the posts of the users each user follows (and those that mention them).

enum class timeline_op : std::uint32_t { insert, read };
struct timeline_order {
  timeline_op op;
  logical_time time;  // insert: the post's time; read: the reader's (only earlier posts are seen)
  post_id post;       // insert only
};
// The order, and the users it is for: the reader, or those on one shard who get the post.
using timeline_request = std::pair<timeline_order, std::vector<user_id>>;
using timeline_reply = std::vector<post>;  // a read's page, oldest first; empty for an insert
using timeline_service = service<timeline_request, timeline_reply>;

struct timeline_entry {
  logical_time time;
  post_id post;
  bool operator<(const timeline_entry& other) const {
    return std::tie(time, post) < std::tie(other.time, other.post);
  }
};

// The newest page of `user`'s entries from before `time`, with the posts read from post-storage.
timeline_reply read_page(const std::vector<timeline_entry>& entries, logical_time time,
                         const storage_service& storage) {
  const auto end = std::lower_bound(entries.begin(), entries.end(), timeline_entry{time, 0});
  const auto begin = end - std::min<std::ptrdiff_t>(end - entries.begin(), timeline_page);
  // One read per post-storage worker that holds some of the page, all sent before any is awaited.
  std::vector<storage_request> reads(storage.size(), storage_request{storage_op::read, 0, {}, {}});
  for (auto at = begin; at != end; ++at) {
    storage_request& read = reads[storage_key(at->post) % storage.size()];
    read.ids[read.count++] = at->post;
  }
  std::vector<drust::std::future<storage_reply>> replies;
  for (std::size_t shard = 0; shard < reads.size(); ++shard) {
    if (reads[shard].count > 0) replies.push_back(send_request(storage, shard, reads[shard]));
  }
  std::vector<post> found;
  for (auto& reply : replies) {
    const storage_reply posts = reply.get();
    found.insert(found.end(), posts.begin(), posts.end());
  }
  timeline_reply page;
  for (auto at = begin; at != end; ++at) {
    page.push_back(
        *std::find_if(found.begin(), found.end(), [&](const post& p) { return p.id == at->post; }));
  }
  return page;
}

void timeline(inbox_promise<timeline_request, timeline_reply> inbox, storage_service storage) {
  auto calls = open_inbox(inbox);
  std::unordered_map<user_id, std::vector<timeline_entry>> timelines;
  while (auto received = calls.recv()) {
    auto& [request, reply_to] = *received;
    const auto& [order, users] = request;
    timeline_reply reply;
    if (order.op == timeline_op::insert) {
      const timeline_entry entry{order.time, order.post};
      for (const user_id user : users) {
        std::vector<timeline_entry>& entries = timelines[user];
        entries.insert(std::upper_bound(entries.begin(), entries.end(), entry), entry);
      }
    } else {
      const auto found = timelines.find(users.at(0));
      if (found != timelines.end()) reply = read_page(found->second, order.time, storage);
    }
    reply_to.set_value(std::move(reply));
  }
}

// ---- social-graph: followers by user ------------------------------------------------------------

enum class graph_op : std::uint32_t { follow, unfollow, followers };
struct graph_request {
  graph_op op;
  user_id user;      // the user followed, or whose followers are asked for
  user_id follower;  // follow and unfollow only
  logical_time time;
  std::uint32_t client;  // who asked, and its request number: orders changes made in one round
  std::uint64_t sequence;
};
using graph_reply = std::vector<user_id>;  // followers, ascending; empty for a change
using graph_service = service<graph_request, graph_reply>;

struct follow_edge {
  user_id follower, followee;
};

// A shard of the graph. A change made at time t is applied when a request of a later time comes,
// all of that time's changes in (client, request number) order: so a round's reads see the graph
// as it was when the round began, whatever order the round's changes arrived in.
struct graph_shard {
  std::unordered_map<user_id, std::vector<user_id>> followers;  // each sorted
  std::vector<graph_request> pending;

  void apply(const graph_request& change) {
    std::vector<user_id>& list = followers[change.user];
    const auto at = std::lower_bound(list.begin(), list.end(), change.follower);
    const bool present = at != list.end() && *at == change.follower;
    if (change.op == graph_op::follow && !present) list.insert(at, change.follower);
    if (change.op == graph_op::unfollow && present) list.erase(at);
  }
  void settle(logical_time now) {
    const auto by_order = [](const graph_request& a, const graph_request& b) {
      return std::tie(a.time, a.client, a.sequence) < std::tie(b.time, b.client, b.sequence);
    };
    std::sort(pending.begin(), pending.end(), by_order);
    const auto later = std::find_if(pending.begin(), pending.end(),
                                    [&](const graph_request& c) { return c.time >= now; });
    for (auto change = pending.begin(); change != later; ++change) apply(*change);
    pending.erase(pending.begin(), later);
  }
};

void social_graph(inbox_promise<graph_request, graph_reply> inbox,
                  std::vector<follow_edge> initial) {
  auto calls = open_inbox(inbox);
  graph_shard shard;
  for (const follow_edge& edge : initial)
    shard.apply({graph_op::follow, edge.followee, edge.follower, 0, 0, 0});
  while (auto received = calls.recv()) {
    auto& [request, reply_to] = *received;
    shard.settle(request.time);
    graph_reply reply;
    if (request.op == graph_op::followers) {
      const auto found = shard.followers.find(request.user);
      if (found != shard.followers.end()) reply = found->second;
    } else {
      shard.pending.push_back(request);
    }
    reply_to.set_value(std::move(reply));
  }
}

// ---- compose-post: text processing, the post's id, storage and fan-out ----------------------

struct compose_request {
  user_id author;
  logical_time time;
  std::uint32_t client;  // with the client's request number, makes the post id
  std::uint64_t sequence;
  std::uint16_t text_length, media_count;
  std::array<char, max_text> text;
  std::array<std::uint64_t, max_media> media;
};
using compose_reply = post_id;
using compose_service = service<compose_request, compose_reply>;

constexpr std::string_view mention_prefix = "@user";
constexpr std::string_view short_url_prefix = "http://sn.io/";

// The post a compose request makes: its id from the client and request number (as DeathStarBench's
// unique-id service makes one from a machine id and a counter); @user<N> mentions resolved to
// user ids; each URL replaced in the text by a short one made from its hash.
post make_post(const compose_request& request, user_id users) {
  post made{};
  made.id = (std::uint64_t{request.client} << 40) | request.sequence;
  made.author = request.author;
  made.time = request.time;
  made.media_count = request.media_count;
  made.media = request.media;
  std::string text;
  std::string_view rest(request.text.data(), request.text_length);
  while (!rest.empty()) {
    const std::size_t space = std::min(rest.find(' '), rest.size());
    std::string_view word = rest.substr(0, space);
    rest.remove_prefix(std::min(space + 1, rest.size()));
    std::string shortened;
    if (word.starts_with(mention_prefix)) {
      user_id mentioned = 0;
      const char* end = word.data() + word.size();
      const auto [last, error] =
          std::from_chars(word.data() + mention_prefix.size(), end, mentioned);
      if (error == std::errc() && last == end && mentioned < users &&
          made.mention_count < max_mentions) {
        made.mentions[made.mention_count++] = mentioned;
      }
    } else if (word.starts_with("http://") || word.starts_with("https://")) {
      static constexpr std::string_view digits =
          "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
      shortened = short_url_prefix;
      for (std::uint64_t code = hash_text(word), i = 0; i < 8; ++i, code /= digits.size())
        shortened += digits[code % digits.size()];
      word = shortened;
      ++made.url_count;
    }
    if (!text.empty()) text += ' ';
    text += word;
  }
  made.text_length = static_cast<std::uint16_t>(std::min(text.size(), max_text));
  std::copy_n(text.begin(), made.text_length, made.text.begin());
  return made;
}

void compose_post(inbox_promise<compose_request, compose_reply> inbox, user_id users,
                  storage_service storage, timeline_service user_timelines,
                  timeline_service home_timelines, graph_service graph) {
  auto calls = open_inbox(inbox);
  while (auto received = calls.recv()) {
    auto& [request, reply_to] = *received;
    const post made = make_post(request, users);
    // Storage and the author's timeline are written while the followers are looked up. (Both
    // replies, like home-timeline's, are a std::vector<post>, empty for a write.)
    std::vector<drust::std::future<std::vector<post>>> acks;
    acks.push_back(send_request(storage, storage_key(made.id),
                                storage_request{storage_op::store, 0, {}, made}));
    acks.push_back(
        send_request(user_timelines, made.author,
                     timeline_request({timeline_op::insert, made.time, made.id}, {made.author})));
    std::vector<user_id> readers =
        ask(graph, made.author, {graph_op::followers, made.author, 0, made.time, 0, 0});
    readers.insert(readers.end(), made.mentions.begin(),
                   made.mentions.begin() + made.mention_count);
    std::sort(readers.begin(), readers.end());
    readers.erase(std::unique(readers.begin(), readers.end()), readers.end());
    // One insert per home-timeline worker, for the readers it owns.
    std::vector<std::vector<user_id>> by_shard(home_timelines.size());
    for (const user_id reader : readers) by_shard[reader % by_shard.size()].push_back(reader);
    for (std::size_t shard = 0; shard < by_shard.size(); ++shard) {
      if (by_shard[shard].empty()) continue;
      acks.push_back(send_request(
          home_timelines, shard,
          timeline_request({timeline_op::insert, made.time, made.id}, std::move(by_shard[shard]))));
    }
    // Replying once every write is done is what makes the post visible to the next round.
    for (auto& ack : acks) ack.get();
    reply_to.set_value(made.id);
  }
}

// ---- The workload ---------------------------------------------------------------------------

// One thread's random stream (splitmix64): deterministic from its seed, shared with nobody.
class random_stream {
 public:
  explicit random_stream(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() { return mix(state_ += 0x9e3779b97f4a7c15ULL); }
  std::uint64_t below(std::uint64_t bound) { return next() % bound; }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)

 private:
  std::uint64_t state_;
};

struct options {
  std::uint64_t users = 1'000;
  std::uint64_t requests = 20'000;
  std::uint64_t clients = 4;
  std::uint64_t workers = 2;
  std::uint64_t seed = 42;
};

constexpr std::uint64_t average_follows = 10;
constexpr std::uint64_t round_length = 100;  // requests per client between two barriers

// The follow graph: user v follows 1 to 2 * average_follows - 1 others, each drawn by popularity
// rank with density 1/rank (rank = users^u - 1: Zipf with exponent 1), ranks given to users by a
// seeded shuffle. So followers per user are heavy-tailed, and popular users are spread over the
// shards. Returned per social-graph worker (by followee).
std::vector<std::vector<follow_edge>> make_graph(const options& o, std::uint64_t& edges,
                                                 std::uint64_t& most_followers) {
  random_stream random(mix(o.seed) ^ 0x67726170'68ULL);
  std::vector<user_id> by_rank(o.users);
  for (std::uint64_t i = 0; i < o.users; ++i) by_rank[i] = static_cast<user_id>(i);
  for (std::uint64_t i = o.users - 1; i > 0; --i)
    std::swap(by_rank[i], by_rank[random.below(i + 1)]);
  std::vector<std::vector<follow_edge>> shards(o.workers);
  std::vector<std::uint64_t> followers(o.users, 0);
  edges = 0;
  for (std::uint64_t v = 0; v < o.users; ++v) {
    std::vector<user_id> follows;
    for (std::uint64_t n = 1 + random.below(2 * average_follows - 1); n > 0; --n) {
      const auto rank =
          static_cast<std::uint64_t>(std::pow(static_cast<double>(o.users), random.uniform())) - 1;
      follows.push_back(by_rank[std::min(rank, o.users - 1)]);
    }
    std::sort(follows.begin(), follows.end());
    follows.erase(std::unique(follows.begin(), follows.end()), follows.end());
    for (const user_id followee : follows) {
      if (followee == v) continue;
      shards[followee % o.workers].push_back({static_cast<user_id>(v), followee});
      ++followers[followee];
      ++edges;
    }
  }
  most_followers = *std::max_element(followers.begin(), followers.end());
  return shards;
}

constexpr std::array<std::string_view, 16> vocabulary = {
    "the",    "a",       "social", "network", "post", "today", "great",  "news",
    "coffee", "cluster", "memory", "thread",  "rust", "paper", "shared", "fast"};

// A compose request as a client makes it: 8 to 23 words, 0 to 2 mentions, 0 to 2 URLs, 0 to 4
// media ids, shuffled into one text of at most 280 characters.
compose_request make_compose(random_stream& random, const options& o, user_id author) {
  compose_request request{};
  request.author = author;
  std::vector<std::string> words;
  for (std::uint64_t n = 8 + random.below(16); n > 0; --n)
    words.emplace_back(vocabulary[random.below(vocabulary.size())]);
  for (std::uint64_t n = random.below(3); n > 0; --n)
    words.push_back("@user" + std::to_string(random.below(o.users)));
  for (std::uint64_t n = random.below(3); n > 0; --n)
    words.push_back("https://example.com/p/" + std::to_string(random.next()));
  for (std::size_t i = words.size() - 1; i > 0; --i)
    std::swap(words[i], words[random.below(i + 1)]);
  std::string text;
  for (const std::string& word : words) {
    if (text.size() + 1 + word.size() > max_text) break;
    if (!text.empty()) text += ' ';
    text += word;
  }
  request.text_length = static_cast<std::uint16_t>(text.size());
  std::copy(text.begin(), text.end(), request.text.begin());
  request.media_count = static_cast<std::uint16_t>(random.below(max_media + 1));
  for (std::size_t i = 0; i < request.media_count; ++i) request.media[i] = random.next();
  return request;
}

struct client_result {
  std::uint64_t digest = 0;
  std::uint64_t home_reads = 0, user_reads = 0, composes = 0, follows = 0, unfollows = 0,
                posts_read = 0;
  std::uint64_t bad_pages = 0;  // pages out of order, with a post from the reader's round or later,
                                // or (user timeline) by another author: must stay 0
};

// What a client is given besides the services: plain values.
struct client_task {
  std::uint32_t client;
  options settings;
  std::uint64_t rounds;
};

// One client: its share of the requests, `round_length` per round, each round ended at the
// barrier. Every request and its round are fixed by (seed, client), and every reply is hashed
// into the digest in the order the client made the requests.
client_result run_client(client_task task, compose_service compose, timeline_service user_timelines,
                         timeline_service home_timelines, graph_service graph,
                         drust::std::shared_ptr<drust::std::barrier<>> rounds) {
  const options& o = task.settings;
  random_stream random(mix(o.seed) ^ mix(task.client + 1));
  const std::uint64_t requests =
      o.requests / o.clients + (task.client < o.requests % o.clients ? 1 : 0);
  client_result result;
  const auto record = [&](std::uint64_t value) { result.digest = mix(result.digest ^ value); };
  const auto record_page = [&](const timeline_reply& page, logical_time time,
                               std::optional<user_id> author) {
    record(page.size());
    bool good = true;
    for (std::size_t i = 0; i < page.size(); ++i) {
      const post& p = page[i];
      record(hash_post(p));
      good = good && p.time < time && (!author || p.author == *author) &&
             (i == 0 ||
              timeline_entry{page[i - 1].time, page[i - 1].id} < timeline_entry{p.time, p.id});
    }
    result.posts_read += page.size();
    if (!good) ++result.bad_pages;
  };
  for (std::uint64_t round = 1; round <= task.rounds; ++round) {
    const auto time = static_cast<logical_time>(round);
    for (std::uint64_t sequence = (round - 1) * round_length;
         sequence < std::min(requests, round * round_length); ++sequence) {
      const std::uint64_t kind = random.below(200);  // in half-percent steps
      const auto user = static_cast<user_id>(random.below(o.users));
      if (kind < 120) {
        ++result.home_reads;
        record_page(
            ask(home_timelines, user, timeline_request({timeline_op::read, time, 0}, {user})), time,
            std::nullopt);
      } else if (kind < 180) {
        ++result.user_reads;
        record_page(
            ask(user_timelines, user, timeline_request({timeline_op::read, time, 0}, {user})), time,
            user);
      } else if (kind < 198) {
        ++result.composes;
        compose_request request = make_compose(random, o, user);
        request.time = time;
        request.client = task.client;
        request.sequence = sequence;
        record(ask(compose, user, request));
      } else {
        const bool follow = kind == 198;
        ++(follow ? result.follows : result.unfollows);
        const auto follower = static_cast<user_id>(random.below(o.users));
        ask(graph, user,
            {follow ? graph_op::follow : graph_op::unfollow, user, follower, time, task.client,
             sequence});
        record(follow ? 1 : 2);
      }
    }
    rounds->arrive_and_wait();
  }
  return result;
}

// ---- The program -----------------------------------------------------------------------------

void usage() {
  std::fprintf(
      stderr,
      "usage: socialnet [--users N] [--requests N] [--clients N] [--workers N] [--seed S]\n"
      "  defaults: --users 1000 --requests 20000 --clients 4 --workers 2 --seed 42\n"
      "  (--users 2 to 2147483647, --clients 1 to 65536, --workers 1 to 1024)\n");
}

// Reads the flags into `o`; on bad input says what is wrong and returns false.
bool parse(int argc, char** argv, options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    std::uint64_t* target = flag == "--users"      ? &o.users
                            : flag == "--requests" ? &o.requests
                            : flag == "--clients"  ? &o.clients
                            : flag == "--workers"  ? &o.workers
                            : flag == "--seed"     ? &o.seed
                                                   : nullptr;
    if (target == nullptr) {
      std::fprintf(stderr, "socialnet: unknown flag '%s'\n", argv[i]);
      return false;
    }
    if (i + 1 == argc) {
      std::fprintf(stderr, "socialnet: %s needs a value\n", argv[i]);
      return false;
    }
    char* end = nullptr;
    *target = std::strtoull(argv[++i], &end, 10);
    if (end == argv[i] || *end != '\0') {
      std::fprintf(stderr, "socialnet: %s takes a whole number, not '%s'\n", argv[i - 1], argv[i]);
      return false;
    }
  }
  const char* problem = o.users < 2 || o.users >= (1ULL << 31) ? "--users must be 2 to 2147483647"
                        : o.clients < 1 || o.clients > 65536   ? "--clients must be 1 to 65536"
                        : o.workers < 1 || o.workers > 1024    ? "--workers must be 1 to 1024"
                                                               : nullptr;
  if (problem != nullptr) std::fprintf(stderr, "socialnet: %s\n", problem);
  return problem == nullptr;
}

// Starts `count` workers of one service, each running `worker(inbox, arguments...)`, and returns
// the service: the senders the workers handed out.
template <class Request, class Reply, class Worker, class... Arguments>
service<Request, Reply> start_service(std::vector<drust::std::thread>& threads, std::uint64_t count,
                                      Worker worker, const Arguments&... arguments) {
  service<Request, Reply> started;
  for (std::uint64_t w = 0; w < count; ++w) {
    inbox_promise<Request, Reply> inbox;
    auto handed_out = inbox.get_future();
    threads.emplace_back(worker, std::move(inbox), arguments...);
    started.push_back(handed_out.get());
  }
  return started;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  if (!parse(argc, argv, o)) {
    usage();
    return 2;
  }
  std::uint64_t edges = 0, most_followers = 0;
  std::vector<std::vector<follow_edge>> graph_shards = make_graph(o, edges, most_followers);

  std::vector<drust::std::thread> workers;
  auto storage = start_service<storage_request, storage_reply>(workers, o.workers, post_storage);
  auto user_timelines =
      start_service<timeline_request, timeline_reply>(workers, o.workers, timeline, storage);
  auto home_timelines =
      start_service<timeline_request, timeline_reply>(workers, o.workers, timeline, storage);
  // Each social-graph worker is given its own shard of the generated graph, so it is started here.
  graph_service graph;
  for (auto& shard : graph_shards) {
    inbox_promise<graph_request, graph_reply> inbox;
    auto handed_out = inbox.get_future();
    workers.emplace_back(social_graph, std::move(inbox), std::move(shard));
    graph.push_back(handed_out.get());
  }
  auto compose = start_service<compose_request, compose_reply>(
      workers, o.workers, compose_post, static_cast<user_id>(o.users), storage, user_timelines,
      home_timelines, graph);

  const std::uint64_t most_requests = (o.requests + o.clients - 1) / o.clients;
  const std::uint64_t rounds =
      std::max<std::uint64_t>(1, (most_requests + round_length - 1) / round_length);
  const auto barrier = drust::std::make_shared<drust::std::barrier<>>(static_cast<std::ptrdiff_t>(o.clients));
  const auto start = std::chrono::steady_clock::now();
  std::vector<drust::std::future<client_result>> clients;
  for (std::uint64_t c = 0; c < o.clients; ++c) {
    clients.push_back(drust::std::async(std::launch::async, run_client,
                                 client_task{static_cast<std::uint32_t>(c), o, rounds}, compose,
                                 user_timelines, home_timelines, graph, barrier));
  }
  client_result total;
  std::uint64_t checksum = mix(edges);
  for (auto& f : clients) {
    const client_result r = f.get();
    checksum = mix(checksum ^ r.digest);
    total.home_reads += r.home_reads;
    total.user_reads += r.user_reads;
    total.composes += r.composes;
    total.follows += r.follows;
    total.unfollows += r.unfollows;
    total.posts_read += r.posts_read;
    total.bad_pages += r.bad_pages;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // Every worker ends when the last sender of its channel goes: the callers' first, then the
  // services' own (compose-post's and the timelines').
  compose.clear();
  graph.clear();
  home_timelines.clear();
  user_timelines.clear();
  storage.clear();
  for (auto& worker : workers) worker.join();

  std::printf(
      "socialnet: %llu users (%llu follows, most followers %llu), %llu clients, %llu workers per "
      "service, "
      "%llu requests (60%% home timeline, 30%% user timeline, 9%% compose, 1%% follow/unfollow), "
      "seed %llu\n",
      static_cast<unsigned long long>(o.users), static_cast<unsigned long long>(edges),
      static_cast<unsigned long long>(most_followers), static_cast<unsigned long long>(o.clients),
      static_cast<unsigned long long>(o.workers), static_cast<unsigned long long>(o.requests),
      static_cast<unsigned long long>(o.seed));
  std::printf(
      "home reads %llu, user reads %llu (posts read %llu, bad pages %llu), composes %llu, follows "
      "%llu, "
      "unfollows %llu\n",
      static_cast<unsigned long long>(total.home_reads),
      static_cast<unsigned long long>(total.user_reads),
      static_cast<unsigned long long>(total.posts_read),
      static_cast<unsigned long long>(total.bad_pages),
      static_cast<unsigned long long>(total.composes),
      static_cast<unsigned long long>(total.follows),
      static_cast<unsigned long long>(total.unfollows));
  std::printf("checksum %016llx\n", static_cast<unsigned long long>(checksum));
  std::printf("throughput %.0f requests/s (client phase %.3f s)\n",
              static_cast<double>(o.requests) / seconds, seconds);
  return total.bad_pages == 0 ? 0 : 1;
}
