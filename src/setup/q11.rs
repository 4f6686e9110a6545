//! Setup of question 11 (tasks, models, measurements used only by its experiment).
