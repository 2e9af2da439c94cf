// The example in <drust/codec>'s banner compiles.
#include <drust/codec>
#include <string>
#include <vector>
struct order { std::string customer; std::vector<int> items; };
template <> struct drust::codec<order> {
  static void encode(drust::encoder& out, const order& o) { out.write(o.customer); out.write(o.items); }
  static order decode(drust::decoder& in) {
    auto customer = in.read<::std::string>();   // members in the order encode wrote them
    return order{::std::move(customer), in.read<::std::vector<int>>()};
  }
};
int main() {
  std::string bytes = drust::detail::encode(order{"ada", {1, 2}});
  return drust::detail::decode<order>(bytes).items.size() == 2 ? 0 : 1;
}
