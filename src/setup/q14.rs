//! Setup of question 14 (tasks, models, measurements used only by its experiment).
