// The Porter stemmer as NLTK runs it by default (nltk.stem.porter.PorterStemmer, mode NLTK_EXTENSIONS):
// Porter's five steps plus NLTK's departures (irregular forms such as dying -> die and skies -> sky,
// words of one or two letters left alone, "ies"/"ied" of four letters -> "ie", 'y' -> 'i' only after a
// consonant that is not the first letter, "alli" first, "bli" -> "ble", "fulli" -> "ful", "logi" -> "log").
// rouge-score stems with it (use_stemmer), on lowercase ASCII tokens longer than three characters.
#pragma once

#include <string>

namespace ckpt::runtime {

std::string porter_stem(const std::string& word);

}  // namespace ckpt::runtime
