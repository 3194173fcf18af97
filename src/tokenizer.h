// Tokenizers behind one interface. Char-level (one token per Unicode code point of
// the training text) now; SentencePiece BPE plugs in behind the same interface.
// A tokenizer serializes to a self-describing blob that data dirs and checkpoints store.
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace gpt {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::string kind() const = 0;  // "char", later "bpe", ...
  virtual int vocab_size() const = 0;
  // Throws gpt::Error naming the first character not in the vocabulary.
  virtual std::vector<int> encode(const std::string& text) const = 0;
  // Text of one token, for streaming output (complete UTF-8 for char-level).
  virtual std::string decode_token(int id) const = 0;
  std::string decode(const std::vector<int>& ids) const;
  // Self-describing bytes (starts with a magic line naming the kind and version).
  virtual std::string serialize() const = 0;

  static std::unique_ptr<Tokenizer> deserialize(const std::string& blob, const std::string& source);
  // DIR/tokenizer.bin (the file name is kTokenizerFile).
  static std::unique_ptr<Tokenizer> load_dir(const std::string& dir);
  void save_dir(const std::string& dir) const;  // atomic write
};

constexpr const char* kTokenizerFile = "tokenizer.bin";

// Vocabulary = the sorted set of code points in text. Invalid UTF-8 bytes are an error.
std::unique_ptr<Tokenizer> build_char_tokenizer(const std::string& text);

}  // namespace gpt
